package rule

// Level is the severity of a log line sent to the host.
type Level int32

// Log levels, as the host maps them to slog levels.
const (
	LevelDebug Level = 0
	LevelInfo  Level = 1
	LevelWarn  Level = 2
	LevelError Level = 3
)

// Log sends one line to the host log, where it appears with the rule's
// name. The host truncates lines to 1 KiB and rate-limits them: do not log
// on every request.
func Log(level Level, msg string) {
	if msg == "" {
		return
	}
	hostLog(level, msg)
}
