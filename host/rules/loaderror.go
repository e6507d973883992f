package rules

// LoadError is what Load returns when a rule cannot be loaded: which rule, which file, why.
// Its message reads "rules/<name>: <path>: <problem>".
type LoadError struct {
	Rule string
	Path string
	Err  error
}

func (e *LoadError) Error() string { return "rules/" + e.Rule + ": " + e.Path + ": " + e.Err.Error() }

func (e *LoadError) Unwrap() error { return e.Err }
