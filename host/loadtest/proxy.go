package loadtest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// Proxy is the floor any gateway pays: net/http/httputil's reverse proxy in
// front of the upstream, no routing, served in this process.
type Proxy struct {
	URL  string
	srv  *http.Server
	done chan struct{}
}

// StartProxy serves a reverse proxy to target on a free 127.0.0.1 port. Its
// transport keeps 1024 idle connections to the upstream and flushes every
// write at once (SSE).
func StartProxy(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("loadtest/proxy: %w", err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	rp.Transport = &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	rp.FlushInterval = -1
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("loadtest/proxy: listen: %w", err)
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), done: make(chan struct{}),
		srv: &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

// Close stops the proxy at once.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	<-p.done
	return err
}
