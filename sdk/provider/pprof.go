package provider

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// pprofEnv names the environment variable that, when set to a loopback address
// ("127.0.0.1:6061", or port 0 for any free port), makes Serve expose net/http/pprof on
// it for profiling the plugin under load. Unset (the default), nothing listens.
const pprofEnv = "SWITCHYARD_PLUGIN_PPROF"

// startPprof serves the pprof handlers on the address in SWITCHYARD_PLUGIN_PPROF, if
// any; it refuses an address that is not loopback. The chosen address is written to the
// real stderr. Failures are reported there and never stop the plugin.
func startPprof() {
	addr := os.Getenv(pprofEnv)
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		fmt.Fprintf(stderr, "provider: %s=%q: not a loopback host:port, pprof not started\n", pprofEnv, addr)
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "provider: %s: %v\n", pprofEnv, err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	fmt.Fprintf(stderr, "provider: pprof on http://%s/debug/pprof/ (pid %d)\n", ln.Addr(), os.Getpid())
	go func() { _ = http.Serve(ln, mux) }()
}
