package providertest

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/internal/handshake"
	"github.com/switchyard-llm/switchyard/sdk/provider/pluginhost"
)

// Connect serves impl in this process over an in-memory gRPC connection, with the same
// server and client adapters (and real protobuf encoding) a plugin subprocess uses, and
// returns the host-side Provider. Use it to unit-test a plugin without building it. The
// returned stop function closes the connection and the server; call it once.
func Connect(impl provider.Provider) (p provider.Provider, stop func(), err error) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(provider.MaxMessageSize), grpc.MaxSendMsgSize(provider.MaxMessageSize))
	if err := handshake.NewPlugin(impl).GRPCServer(nil, srv); err != nil {
		return nil, nil, fmt.Errorf("providertest: %w", err)
	}
	go func() { _ = srv.Serve(lis) }()
	opts := append(pluginhost.DialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
	)
	conn, err := grpc.NewClient("passthrough:///bufconn", opts...)
	if err != nil {
		srv.Stop()
		return nil, nil, fmt.Errorf("providertest: %w", err)
	}
	stop = func() {
		_ = conn.Close()
		srv.Stop()
	}
	return pluginhost.NewClient(conn), stop, nil
}
