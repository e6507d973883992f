package providers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/pluginhost"
)

// instance is one plugin process and its go-plugin client. A go-plugin Client cannot be
// restarted, so every restart builds a new instance; an instance only ever goes from
// running to killed.
type instance struct {
	client *plugin.Client
	proc   *process
	prov   provider.Provider
	// health answers CheckHealth over a gRPC connection of its own, so that health checks
	// do not queue behind the data calls on prov's connection; it is prov when no second
	// connection could be made.
	health     provider.Provider
	healthConn *grpc.ClientConn // nil when health is prov
	info       provider.Info
	pid        int
	stderr     *tailBuffer
	started    time.Time

	// progress counts what the plugin sent back: answers (in-band errors included) and
	// stream chunks. A plugin that does not answer a health check is hung only if it has
	// not progressed since the previous check.
	progress atomic.Uint64
	// checked is progress at the end of the previous health check; only the supervisor's
	// goroutine uses it.
	checked uint64

	killOnce sync.Once
}

// gracefulStop bounds a graceful kill: go-plugin asks the plugin to shut down (an RPC
// without a deadline) and waits up to 2 s for it to exit; a plugin that has not exited
// after gracefulStop is SIGKILLed with its process group.
const gracefulStop = 3 * time.Second

// exited reports whether the process has ended.
func (in *instance) exited() bool { return in.proc.exited.Load() }

// answered records that the plugin sent an answer, unless err says it did not: a
// transport failure, or an error the caller's own cancellation may have produced on this
// side of the connection.
func (in *instance) answered(ctx context.Context, err error) {
	if err == nil || (!pluginhost.IsTransportError(err) && ctx.Err() == nil) {
		in.progress.Add(1)
	}
}

// kill ends the process group and waits until go-plugin has reaped the process and
// drained its stderr, so the stderr tail is complete afterwards. With graceful, the plugin
// is first asked to shut down (go-plugin waits up to 2 s for its in-flight calls, this
// waits gracefulStop in all); otherwise its group is SIGKILLed at once. It never waits on
// a descendant that holds the plugin's output open (see process). Safe to call more than
// once.
func (in *instance) kill(graceful bool) {
	in.killOnce.Do(func() {
		if !graceful {
			in.proc.kill()
		}
		if in.healthConn != nil {
			_ = in.healthConn.Close()
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			in.client.Kill()
		}()
		if graceful {
			t := time.NewTimer(gracefulStop)
			select {
			case <-done:
			case <-t.C:
				in.proc.kill()
			}
			t.Stop()
		}
		<-done
		if reaped := in.proc.reaped(); reaped != nil {
			<-reaped
		}
		in.proc.removeSocketDir()
	})
}

// launchError describes a plugin that failed to start or to be configured. Its message
// names the binary and quotes the stderr tail, and never holds a secret.
func (s *Supervisor) launchError(stage string, err error, tail string) error {
	msg := s.redact.String(err.Error())
	if tail = s.redact.String(tail); tail != "" {
		msg += "; plugin stderr: " + quoteTail(tail)
	} else {
		msg += "; plugin stderr was empty"
	}
	return fmt.Errorf("providers/%s: %s %s: %s", s.spec.Name, stage, s.spec.Path, msg)
}

// tailLine returns an emit function adding a line of the plugin's real stderr to the tail,
// except go-plugin's own JSON debug and trace lines ("plugin address"), which would crowd
// out what the plugin said.
func tailLine(tail *tailBuffer) func(string) {
	return func(line string) {
		if strings.HasPrefix(line, `{"@level":"debug"`) || strings.HasPrefix(line, `{"@level":"trace"`) {
			return
		}
		tail.Write([]byte(line + "\n"))
	}
}

// quoteTail quotes a stderr tail for an error message or log line, keeping newlines
// readable as "\n".
func quoteTail(t string) string { return fmt.Sprintf("%q", t) }

// launch starts a new plugin process, checks it and configures it. ctx aborts the launch
// (the process is killed); the launch is otherwise bounded by StartTimeout for the
// handshake and StartTimeout again for GetInfo and Configure together.
func (s *Supervisor) launch(ctx context.Context) (*instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("providers/%s: start %s: %w", s.spec.Name, s.spec.Path, err)
	}
	if err := s.checkBinary(); err != nil {
		return nil, err
	}

	proc := newProcess(s.spec.Path, pluginEnv(s.spec.Env))
	// A launch the supervisor abandons (Close, or Start's ctx) kills the process group,
	// which also ends go-plugin's wait for the handshake.
	stopAbort := context.AfterFunc(ctx, proc.kill)
	defer stopAbort()

	tail := newTailBuffer(stderrTailSize)
	binName := filepath.Base(s.spec.Path)
	hlog := newHCLogAdapter(s.log, binName, s.redact)
	// After provider.Serve began, the plugin's os.Stderr is a pipe that go-plugin forwards
	// over gRPC (SyncStderr); only the runtime's own output (panics) and what was written
	// before Serve arrive on the process's real stderr (Stderr). Both feed the tail. Lines
	// from the pipes (stdout too) are logged as go-plugin logs unmarked stderr lines: at
	// debug.
	pipeLog := hlog.Named(binName)
	stdio := &lineWriter{max: stderrTailSize, emit: func(line string) {
		tail.Write([]byte(line + "\n"))
		pipeLog.Debug(line, "stream", "stderr")
	}}
	stdout := &lineWriter{max: stderrTailSize, emit: func(line string) { pipeLog.Debug(line, "stream", "stdout") }}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginhost.HandshakeConfig(),
		VersionedPlugins: pluginhost.VersionedPlugins(),
		// The process runner (not Cmd) keeps a grandchild holding the plugin's stdout
		// from hanging the kill; SkipHostEnv keeps the host's environment out of it.
		RunnerFunc:       proc.runnerFunc,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     s.opts.StartTimeout,
		GRPCDialOptions:  pluginhost.DialOptions(),
		Logger:           hlog,
		Stderr:           &lineWriter{max: stderrTailSize, emit: tailLine(tail)},
		SyncStdout:       stdout,
		SyncStderr:       stdio,
		Managed:          false,
	})
	in := &instance{client: client, proc: proc, stderr: tail}
	fail := func(stage string, err error) (*instance, error) {
		in.kill(false)
		e := s.launchError(stage, err, tail.String())
		if ctxErr := ctx.Err(); ctxErr != nil {
			e = fmt.Errorf("%w (launch abandoned: %w)", e, ctxErr)
		}
		return nil, e
	}

	rpc, err := client.Client()
	if err != nil {
		if proc.reaped() == nil { // it never ran (not found, not executable): no stderr to quote
			in.kill(false)
			e := fmt.Errorf("providers/%s: start %s: %s", s.spec.Name, s.spec.Path, s.redact.String(err.Error()))
			if ctxErr := ctx.Err(); ctxErr != nil {
				e = fmt.Errorf("%w (launch abandoned: %w)", e, ctxErr)
			}
			return nil, e
		}
		return fail("start", explainStartError(err, s.opts.StartTimeout))
	}
	if v := client.NegotiatedVersion(); v != pluginhost.ProtocolVersion {
		return fail("start", fmt.Errorf("plugin speaks provider protocol %d, host speaks %d", v, pluginhost.ProtocolVersion))
	}
	raw, err := rpc.Dispense(pluginhost.PluginName)
	if err != nil {
		return fail("start", fmt.Errorf("dispense %q: %w", pluginhost.PluginName, err))
	}
	prov, ok := raw.(provider.Provider)
	if !ok {
		return fail("start", fmt.Errorf("dispensed %T, not a provider.Provider", raw))
	}
	in.pid, _ = strconv.Atoi(proc.ID())
	in.prov, in.health = prov, prov
	if rc := client.ReattachConfig(); rc != nil && rc.Addr != nil {
		conn, health, err := dialHealth(rc.Addr)
		if err != nil {
			s.log.Debug("no connection of its own for health checks, sharing the data connection", "error", err.Error())
		} else {
			in.health, in.healthConn = health, conn
		}
	}

	callCtx, callCancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer callCancel()
	info, err := prov.Info(callCtx)
	if err != nil {
		return fail("get info from", statusMessage(err))
	}
	if info.Name == "" {
		return fail("get info from", errors.New("plugin reports no name"))
	}
	in.info = info
	err = prov.Configure(callCtx, provider.Config{
		Instance:    s.spec.Name,
		Settings:    s.spec.Settings,
		Secrets:     s.spec.Secrets,
		HostVersion: s.opts.HostVersion,
	})
	if err != nil {
		return fail("configure", statusMessage(err))
	}
	in.started = time.Now()
	return in, nil
}

// dialHealth opens a second gRPC connection to the plugin at addr (go-plugin's server
// accepts any number) and returns a Provider on it, used for CheckHealth only: on the
// data connection, a health check would queue behind the frames of every busy stream.
func dialHealth(addr net.Addr) (*grpc.ClientConn, provider.Provider, error) {
	dial := func(ctx context.Context, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, addr.Network(), addr.String())
	}
	opts := append(pluginhost.DialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dial),
	)
	conn, err := grpc.NewClient("passthrough:///plugin-health", opts...)
	if err != nil {
		return nil, nil, err
	}
	conn.Connect() // dial now rather than at the first check
	return conn, pluginhost.NewClient(conn), nil
}

// explainStartError adds what go-plugin's start errors mean for a plugin author.
func explainStartError(err error, timeout time.Duration) error {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "Unrecognized remote plugin message: \n"),
		msg == "Unrecognized remote plugin message: ",
		strings.HasPrefix(msg, "plugin exited before we could connect"):
		return errors.New("plugin exited before completing the handshake")
	case strings.HasPrefix(msg, "Unrecognized remote plugin message: "):
		line, _, _ := strings.Cut(strings.TrimPrefix(msg, "Unrecognized remote plugin message: "), "\n")
		return fmt.Errorf("plugin wrote to stdout before the handshake (stdout carries the handshake line; log to stderr): got %q", line)
	case strings.HasPrefix(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("no handshake within the start timeout (%s)", timeout)
	}
	return err
}

// statusMessage returns the plugin's own message from a gRPC status error, without the
// SDK's and gRPC's prefixes, keeping the code when it says more than "unknown".
func statusMessage(err error) error {
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return err
	}
	st := se.GRPCStatus()
	if st.Code() == codes.Unknown || st.Code() == codes.InvalidArgument {
		return errors.New(st.Message())
	}
	return fmt.Errorf("%s (%s)", st.Message(), st.Code())
}

// checkBinary refuses a binary whose sha256 differs from Spec.SHA256, when that is set.
func (s *Supervisor) checkBinary() error {
	if s.spec.SHA256 == "" {
		return nil
	}
	f, err := os.Open(s.spec.Path)
	if err != nil {
		return fmt.Errorf("providers/%s: check sha256 of %s: %w", s.spec.Name, s.spec.Path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("providers/%s: check sha256 of %s: %w", s.spec.Name, s.spec.Path, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if !strings.EqualFold(got, s.spec.SHA256) {
		return fmt.Errorf("providers/%s: refusing to start %s: its sha256 is %s, the config expects %s",
			s.spec.Name, s.spec.Path, got, strings.ToLower(s.spec.SHA256))
	}
	return nil
}
