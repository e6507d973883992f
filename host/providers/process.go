package providers

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
)

// pipeDrain is how long the plugin's stdout and stderr may stay open after its process
// group was killed. Whatever still holds them then left the group (setsid) and is not
// waited for: the pipes are closed on it.
const pipeDrain = time.Second

// process is the go-plugin runner of one plugin process (plugin.ClientConfig.RunnerFunc).
//
// go-plugin's own runner reads the plugin's stdout and stderr through exec pipes and reaps
// the process only once both reached end of file. A grandchild that inherited them (a
// wrapper script's background job, a helper the plugin forked) keeps them open forever:
// the process is never reaped, and Client.Kill, which waits for those readers, never
// returns. This runner starts the plugin in a process group of its own, owns the pipes,
// and reaps the process in its own goroutine: once the plugin exits, what is left of its
// group is SIGKILLed, and the pipes are closed after pipeDrain even if something outside
// the group still holds them. Kill SIGKILLs the whole group.
type process struct {
	cmd       *exec.Cmd
	path      string
	socketDir string // made by go-plugin for the plugin's socket; removed after the kill

	mu      sync.Mutex
	started bool
	stopped bool // Kill was called; a later Start refuses to run the plugin
	pid     int

	stdout, stderr *pipeReader
	done           chan struct{} // closed once the process is reaped and its pipes are closed
	waitErr        error         // cmd.Wait's error, read after done
	exited         atomic.Bool   // the process has ended (set before the pipes drain)
}

// newProcess prepares (but does not start) the plugin at path with exactly env as its
// environment; go-plugin adds its own variables through RunnerFunc.
func newProcess(path string, env []string) *process {
	cmd := exec.Command(path)
	cmd.Env = env
	setProcAttr(cmd)
	return &process{cmd: cmd, path: path, done: make(chan struct{})}
}

// runnerFunc is the plugin.ClientConfig.RunnerFunc handing p to go-plugin: spec carries
// the environment go-plugin wants the plugin to have (magic cookie, protocol versions,
// socket directory), added to p's own.
func (p *process) runnerFunc(_ hclog.Logger, spec *exec.Cmd, socketDir string) (runner.Runner, error) {
	p.cmd.Env = append(p.cmd.Env, spec.Env...)
	p.socketDir = socketDir
	return p, nil
}

// removeSocketDir removes the directory go-plugin made for the plugin's socket. go-plugin
// removes it itself, except when the process never started.
func (p *process) removeSocketDir() {
	if p.socketDir != "" {
		_ = os.RemoveAll(p.socketDir)
	}
}

// Start runs the plugin. It fails once Kill was called, so an abandoned launch never
// starts a process.
func (p *process) Start(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errors.New("launch abandoned")
	}
	if p.started {
		return errors.New("plugin process already started")
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return err
	}
	p.cmd.Stdout, p.cmd.Stderr = outW, errW
	err = p.cmd.Start()
	// The child has its own copies of the write ends; the host's must go, or the pipes
	// would never reach end of file.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return err
	}
	p.started = true
	p.pid = p.cmd.Process.Pid
	p.stdout, p.stderr = newPipeReader(outR), newPipeReader(errR)
	go p.reap()
	return nil
}

// reap waits for the process, kills what it left in its group, then lets go-plugin read
// the rest of the pipes (for at most pipeDrain) before closing them.
func (p *process) reap() {
	err := p.cmd.Wait()
	p.exited.Store(true)
	killGroup(p.cmd)
	expired := make(chan struct{})
	t := time.AfterFunc(pipeDrain, func() { close(expired) })
	defer t.Stop()
	for _, r := range []*pipeReader{p.stdout, p.stderr} {
		select {
		case <-r.eof:
		case <-expired:
		}
	}
	p.stdout.close()
	p.stderr.close()
	p.waitErr = err
	close(p.done)
}

// Wait returns once the process was reaped and its pipes closed. go-plugin calls it after
// reading both pipes to their end.
func (p *process) Wait(context.Context) error {
	<-p.done
	return p.waitErr
}

// Kill SIGKILLs the plugin's whole process group; it never blocks. Before Start it makes
// Start refuse; after the process was reaped it does nothing (its pid may be reused).
func (p *process) Kill(context.Context) error {
	p.mu.Lock()
	p.stopped = true
	started := p.started
	p.mu.Unlock()
	if !started || p.exited.Load() {
		return nil
	}
	killGroup(p.cmd)
	return nil
}

// kill is Kill without a context.
func (p *process) kill() { _ = p.Kill(context.Background()) }

// reaped is closed once the process is gone and its pipes are closed; nil before Start.
func (p *process) reaped() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		return nil
	}
	return p.done
}

// Stdout is the read end of the plugin's stdout, which carries the handshake line.
func (p *process) Stdout() io.ReadCloser { return p.stdout }

// Stderr is the read end of the plugin's real stderr.
func (p *process) Stderr() io.ReadCloser { return p.stderr }

// Name is the binary's path, which go-plugin uses to name the plugin's logger.
func (p *process) Name() string { return p.path }

// ID is the pid, "" before Start (go-plugin's Kill does nothing then).
func (p *process) ID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pid == 0 {
		return ""
	}
	return strconv.Itoa(p.pid)
}

// Diagnose adds nothing to go-plugin's handshake errors; explainStartError says more.
func (p *process) Diagnose(context.Context) string { return "" }

// PluginToHost and HostToPlugin translate nothing: the plugin runs on this host.
func (p *process) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (p *process) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// pipeReader is the host's end of one of the plugin's output pipes. Reads report end of
// file once the pipe was closed by close, so go-plugin's readers end quietly instead of
// logging a read error.
type pipeReader struct {
	f       *os.File
	eof     chan struct{} // closed at the first end of file or error
	eofOnce sync.Once
	closed  atomic.Bool
	cOnce   sync.Once
}

func newPipeReader(f *os.File) *pipeReader {
	return &pipeReader{f: f, eof: make(chan struct{})}
}

func (r *pipeReader) Read(b []byte) (int, error) {
	n, err := r.f.Read(b)
	if err != nil {
		r.eofOnce.Do(func() { close(r.eof) })
		if r.closed.Load() {
			err = io.EOF
		}
	}
	return n, err
}

// Close is a no-op: the pipe is closed by the process's reaper, once it is done with.
func (r *pipeReader) Close() error { return nil }

// close closes the pipe, waking a blocked Read (os.Pipe files are pollable).
func (r *pipeReader) close() {
	r.cOnce.Do(func() {
		r.closed.Store(true)
		_ = r.f.Close()
	})
}

var _ runner.Runner = (*process)(nil)
var _ io.ReadCloser = (*pipeReader)(nil)
