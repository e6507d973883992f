package main

import (
	"errors"
	"slices"
	"strconv"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

// config is the rule's configuration; see README.md.
type config struct {
	HighPriority        int64    // priority >= this: most capable first
	LowPriority         int64    // priority <= this: cheapest only (0: off)
	LargePromptTokens   int64    // prompt estimate >= this: largest context first
	DefaultOutputTokens int64    // output tokens assumed when the request sets no max_tokens
	PreferSmall         []string // models tried first, in this order, in the economy tier
	MaxTargets          int      // targets returned at most
	RequireCapabilities bool     // tools/images/json requests need the matching capability
	AllowHalfOpen       bool     // keep candidates whose circuit is half_open
}

func defaultConfig() config {
	return config{
		HighPriority:        8,
		LargePromptTokens:   2000,
		DefaultOutputTokens: 1024,
		MaxTargets:          3,
		RequireCapabilities: true,
		AllowHalfOpen:       true,
	}
}

var cfg = defaultConfig()

func parseConfig(data []byte) (config, error) {
	v, err := rule.ParseConfigObject(data, "high_priority", "low_priority", "large_prompt_tokens",
		"default_output_tokens", "prefer_small", "max_targets", "require_capabilities", "allow_half_open")
	if err != nil {
		return config{}, errors.New("tiered: " + err.Error())
	}
	c := defaultConfig()
	c.HighPriority = v.Get("high_priority").Int(c.HighPriority)
	c.LowPriority = v.Get("low_priority").Int(c.LowPriority)
	c.LargePromptTokens = v.Get("large_prompt_tokens").Int(c.LargePromptTokens)
	c.DefaultOutputTokens = v.Get("default_output_tokens").Int(c.DefaultOutputTokens)
	c.PreferSmall = v.Get("prefer_small").Strings(nil)
	c.MaxTargets = int(v.Get("max_targets").Int(int64(c.MaxTargets)))
	c.RequireCapabilities = v.Get("require_capabilities").Bool(c.RequireCapabilities)
	c.AllowHalfOpen = v.Get("allow_half_open").Bool(c.AllowHalfOpen)
	if c.MaxTargets < 1 {
		return config{}, errors.New("tiered: max_targets must be at least 1")
	}
	if c.HighPriority < 1 || c.HighPriority > 10 || c.LowPriority < 0 || c.LowPriority >= c.HighPriority {
		return config{}, errors.New("tiered: need 0 <= low_priority < high_priority <= 10")
	}
	return c, nil
}

var initRule = rule.ConfigInit(&cfg, parseConfig)

// fits holds the indexes of the candidates that can serve the request,
// reused between calls.
var fits []int

func route(in *rule.Input, d *rule.Decision) {
	r := &in.Request
	out := r.MaxTokens
	if out <= 0 {
		out = cfg.DefaultOutputTokens
	}
	need := r.PromptTokensEstimate + out

	fits = fits[:0]
	for i := range in.Candidates {
		c := &in.Candidates[i]
		switch {
		case !c.Healthy, c.Circuit == "open", c.Circuit == "half_open" && !cfg.AllowHalfOpen:
			continue
		case c.ContextWindow > 0 && c.ContextWindow < need:
			continue
		case cfg.RequireCapabilities && (r.HasTools && !c.Has("tools") ||
			r.HasImages && !c.Has("vision") || r.JSONMode && !c.Has("json")):
			continue
		}
		fits = append(fits, i)
	}
	if len(fits) == 0 {
		return // no opinion: the model's default route applies
	}

	cs := in.Candidates
	why := reasonBuf[:0]
	var tier string
	switch {
	case r.Priority >= cfg.HighPriority:
		tier = "tier:quality"
		why = append(why, "priority "...)
		why = strconv.AppendInt(why, r.Priority, 10)
		why = append(why, " >= "...)
		why = strconv.AppendInt(why, cfg.HighPriority, 10)
		why = append(why, ": most capable first"...)
		slices.SortStableFunc(fits, func(a, b int) int {
			return cmpChain(cmpF(cs[b].USDPerMTokOut, cs[a].USDPerMTokOut),
				cmpI(cs[b].ContextWindow, cs[a].ContextWindow),
				cmpF(cs[a].P95MS, cs[b].P95MS))
		})
	case r.PromptTokensEstimate >= cfg.LargePromptTokens:
		tier = "tier:large"
		why = append(why, "prompt ~"...)
		why = strconv.AppendInt(why, r.PromptTokensEstimate, 10)
		why = append(why, " tokens >= "...)
		why = strconv.AppendInt(why, cfg.LargePromptTokens, 10)
		why = append(why, ": largest context first"...)
		slices.SortStableFunc(fits, func(a, b int) int {
			return cmpChain(cmpI(cs[b].ContextWindow, cs[a].ContextWindow), cmpF(cost(&cs[a]), cost(&cs[b])))
		})
	default:
		if cfg.LowPriority > 0 && r.Priority <= cfg.LowPriority {
			tier = "tier:low"
			why = append(why, "priority "...)
			why = strconv.AppendInt(why, r.Priority, 10)
			why = append(why, " <= "...)
			why = strconv.AppendInt(why, cfg.LowPriority, 10)
			why = append(why, ": cheapest only"...)
		} else {
			tier = "tier:economy"
			why = append(why, "cheapest first"...)
		}
		slices.SortStableFunc(fits, func(a, b int) int {
			return cmpChain(cmpI(preferRank(cs[a].Model), preferRank(cs[b].Model)),
				cmpF(cost(&cs[a]), cost(&cs[b])),
				cmpF(cs[a].P95MS, cs[b].P95MS))
		})
	}
	n := min(len(fits), cfg.MaxTargets)
	if tier == "tier:low" {
		n = 1
	}
	for _, i := range fits[:n] {
		d.Add(cs[i].Provider, cs[i].Model)
	}
	why = append(why, " ("...)
	why = strconv.AppendInt(why, int64(len(fits)), 10)
	why = append(why, " of "...)
	why = strconv.AppendInt(why, int64(len(cs)), 10)
	why = append(why, " candidates fit "...)
	why = strconv.AppendInt(why, need, 10)
	why = append(why, " tokens)"...)
	reasonBuf = why
	d.Reason = string(why)
	d.Tags = append(d.Tags, tier)
}

// reasonBuf is reused to build the reason string.
var reasonBuf = make([]byte, 0, 128)

// cost is the blended price of a typical request (3 input tokens per output token).
func cost(c *rule.Candidate) float64 { return 3*c.USDPerMTokIn + c.USDPerMTokOut }

// preferRank orders prefer_small models first, in config order.
func preferRank(model string) int64 {
	for i, m := range cfg.PreferSmall {
		if m == model {
			return int64(i)
		}
	}
	return int64(len(cfg.PreferSmall))
}

func cmpChain(cs ...int) int {
	for _, c := range cs {
		if c != 0 {
			return c
		}
	}
	return 0
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpI(a, b int64) int { return cmpF(float64(a), float64(b)) }
