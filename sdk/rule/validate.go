package rule

// ValidateInput is the decoded sy_validate input (api/rules/ABI.md).
type ValidateInput struct {
	ABI     int64
	Request Request
	Target  Target
	Answer  Answer
}

// Answer is the provider's answer (for a stream: the text held back so far).
type Answer struct {
	Content      string
	FinishReason string
	ToolCalls    string // raw JSON of tool_calls, "" when absent
	Usage        string // raw JSON of usage, "" when absent
}

// Verdict is a validation result: Verdict is "accept", "retry",
// "fallback" or "fail"; "" means accept.
type Verdict struct {
	Verdict string
	Reason  string
}

// AppendJSON appends the verdict's ABI JSON to dst.
func (v *Verdict) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"verdict":`...)
	dst = AppendString(dst, v.Verdict)
	if v.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = AppendString(dst, v.Reason)
	}
	return append(dst, '}')
}

// ReadValidateInput decodes a sy_validate input into in, skipping unknown
// fields.
func ReadValidateInput(data []byte, in *ValidateInput) error {
	sc := scanner{s: string(data)}
	in.Request.reset()
	in.ABI, in.Target, in.Answer = 0, Target{}, Answer{}
	if !sc.object() {
		if sc.err == nil {
			sc.fail("input is null")
		}
		return sc.err
	}
	for first := true; sc.next('}', first); first = false {
		switch sc.key() {
		case "abi":
			in.ABI = sc.int()
		case "request":
			in.Request.read(&sc)
		case "target":
			if sc.object() {
				for f := true; sc.next('}', f); f = false {
					switch sc.key() {
					case "provider":
						in.Target.Provider = sc.str()
					case "model":
						in.Target.Model = sc.str()
					default:
						sc.skip()
					}
				}
			}
		case "answer":
			if sc.object() {
				for f := true; sc.next('}', f); f = false {
					switch sc.key() {
					case "content":
						in.Answer.Content = sc.str()
					case "finish_reason":
						in.Answer.FinishReason = sc.str()
					case "tool_calls":
						in.Answer.ToolCalls = rawOrEmpty(&sc)
					case "usage":
						in.Answer.Usage = rawOrEmpty(&sc)
					default:
						sc.skip()
					}
				}
			}
		default:
			sc.skip()
		}
	}
	sc.end()
	return sc.err
}

func rawOrEmpty(sc *scanner) string {
	if sc.null() {
		return ""
	}
	return sc.skip()
}
