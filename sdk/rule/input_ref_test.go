package rule

// The reference reader: a plain recursive-descent reader on the scanner,
// kept in tests to check the fast reader in read.go against it.

func readInputRef(s string, in *Input) error {
	sc := scanner{s: s}
	in.ABI, in.NowUnixMS, in.RandomSeed, in.Previous = 0, 0, 0, ""
	in.Request.reset()
	in.Candidates = in.Candidates[:0]
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
		case "now_unix_ms":
			in.NowUnixMS = sc.int()
		case "random_seed":
			in.RandomSeed = sc.uint()
		case "request":
			in.Request.read(&sc)
		case "candidates":
			in.readCandidates(&sc)
		case "previous":
			if sc.null() {
				in.Previous = ""
			} else {
				in.Previous = sc.skip()
			}
		default:
			sc.skip()
		}
	}
	sc.end()
	if sc.err == nil && in.ABI != 0 && in.ABI != 1 {
		return errUnsupportedABI(in.ABI)
	}
	return sc.err
}

func (in *Input) readCandidates(sc *scanner) {
	if !sc.array() {
		return
	}
	for first := true; sc.next(']', first); first = false {
		n := len(in.Candidates)
		if n < cap(in.Candidates) {
			in.Candidates = in.Candidates[:n+1]
		} else {
			in.Candidates = append(in.Candidates, Candidate{})
		}
		c := &in.Candidates[n]
		caps := c.Capabilities[:0]
		*c = Candidate{Capabilities: caps}
		c.read(sc)
	}
}

func (c *Candidate) read(sc *scanner) {
	if !sc.object() {
		return
	}
	for first := true; sc.next('}', first); first = false {
		switch sc.key() {
		case "provider":
			c.Provider = sc.str()
		case "model":
			c.Model = sc.str()
		case "context_window":
			c.ContextWindow = sc.int()
		case "usd_per_mtok_in":
			c.USDPerMTokIn = sc.float()
		case "usd_per_mtok_out":
			c.USDPerMTokOut = sc.float()
		case "capabilities":
			c.Capabilities = sc.strings(c.Capabilities)
		case "healthy":
			c.Healthy = sc.bool()
		case "circuit":
			c.Circuit = sc.str()
		case "p50_ms":
			c.P50MS = sc.float()
		case "p95_ms":
			c.P95MS = sc.float()
		case "error_rate":
			c.ErrorRate = sc.float()
		case "inflight":
			c.Inflight = sc.int()
		default:
			sc.skip()
		}
	}
}
