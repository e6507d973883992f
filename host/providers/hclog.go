package providers

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter forwards go-plugin's hclog output to slog.
//
// go-plugin is chatty about its own mechanics (starting, dialing, exits), so everything it
// says itself goes to slog at debug: the supervisor logs the events that matter. Lines the
// plugin writes to stderr reach go-plugin through a sub-logger named after the binary;
// those keep the level the plugin gave them (trace becomes debug), since they are the
// plugin's own log. Every message and string argument passes through the redactor.
type hclogAdapter struct {
	l        *slog.Logger
	name     string
	args     []any
	pluginIO bool // this logger carries the plugin's own stderr lines
	binName  string
	redact   redactor
}

func newHCLogAdapter(l *slog.Logger, binName string, r redactor) *hclogAdapter {
	return &hclogAdapter{l: l, binName: binName, redact: r}
}

func (a *hclogAdapter) level(l hclog.Level) slog.Level {
	if !a.pluginIO {
		return slog.LevelDebug
	}
	switch l {
	case hclog.Info:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelDebug
	}
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	lv := a.level(level)
	ctx := context.Background()
	if !a.l.Enabled(ctx, lv) {
		return
	}
	attrs := make([]any, 0, len(a.args)+len(args)+2)
	if a.name != "" {
		attrs = append(attrs, "logger", a.name)
	}
	attrs = append(attrs, a.args...)
	for _, v := range args {
		attrs = append(attrs, a.clean(v))
	}
	a.l.Log(ctx, lv, a.redact.String(msg), attrs...)
}

// clean redacts string-like values; hclog arguments are alternating keys and values.
func (a *hclogAdapter) clean(v any) any {
	switch x := v.(type) {
	case string:
		return a.redact.String(x)
	case error:
		return a.redact.String(x.Error())
	case fmt.Stringer:
		return a.redact.String(x.String())
	case hclog.Format:
		if len(x) == 0 {
			return ""
		}
		return a.redact.String(fmt.Sprintf(fmt.Sprint(x[0]), x[1:]...))
	}
	return v
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) enabled(l hclog.Level) bool {
	return a.l.Enabled(context.Background(), a.level(l))
}

func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

func (a *hclogAdapter) ImpliedArgs() []any { return a.args }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.args = make([]any, 0, len(a.args)+len(args))
	c.args = append(c.args, a.args...)
	for _, v := range args {
		c.args = append(c.args, c.clean(v))
	}
	return &c
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	if a.name != "" {
		name = a.name + "." + name
	}
	return a.ResetNamed(name)
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	// go-plugin logs the plugin's stderr through Named(filepath.Base(binary)).
	c.pluginIO = name == a.binName || strings.HasSuffix(name, "."+a.binName)
	return &c
}

// SetLevel is ignored: the slog handler decides what is shown.
func (a *hclogAdapter) SetLevel(hclog.Level) {}

// GetLevel reports the most verbose level the slog handler shows, so go-plugin does not
// skip parsing lines that would be shown.
func (a *hclogAdapter) GetLevel() hclog.Level {
	ctx := context.Background()
	switch {
	case a.l.Enabled(ctx, slog.LevelDebug):
		return hclog.Debug
	case a.l.Enabled(ctx, slog.LevelInfo):
		return hclog.Info
	case a.l.Enabled(ctx, slog.LevelWarn):
		return hclog.Warn
	case a.l.Enabled(ctx, slog.LevelError):
		return hclog.Error
	}
	return hclog.Off
}

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		a.Debug(strings.TrimRight(string(p), "\n"))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var _ hclog.Logger = (*hclogAdapter)(nil)
