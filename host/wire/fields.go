package wire

import "encoding/json"

// The decoders of the other APIs (Responses, Messages, legacy completions) read their
// top-level fields through these, so every API words a wrong field's 400 alike.

// Top returns a top-level field of the body; absent and null are both "not set".
func (c *ChatRequest) Top(name string) (json.RawMessage, bool) {
	v, ok := c.fields.get(name)
	if !ok || isNull(v) {
		return nil, false
	}
	return v, true
}

// TopString decodes a top-level string field (not set leaves dst as it is).
func (c *ChatRequest) TopString(name string, dst *string) error {
	if v, ok := c.Top(name); ok && (v[0] != '"' || json.Unmarshal(v, dst) != nil) {
		return BadRequest(name, "%s must be a string", name)
	}
	return nil
}

// TopBool decodes a top-level boolean field.
func (c *ChatRequest) TopBool(name string, dst *bool) error {
	if v, ok := c.Top(name); ok && json.Unmarshal(v, dst) != nil {
		return BadRequest(name, "%s must be a boolean", name)
	}
	return nil
}

// TopFloat decodes a top-level number field that must lie in [lo, hi].
func (c *ChatRequest) TopFloat(name string, dst **float64, lo, hi float64) error {
	v, ok := c.Top(name)
	if !ok {
		return nil
	}
	var f float64
	if json.Unmarshal(v, &f) != nil {
		return BadRequest(name, "%s must be a number", name)
	}
	if f < lo || f > hi {
		return BadRequest(name, "%s must be between %g and %g", name, lo, hi)
	}
	*dst = &f
	return nil
}

// TopInt decodes a top-level whole number field that must lie in [lo, hi] (1024.0 counts
// as whole, as OpenAI's and Anthropic's validation take it).
func (c *ChatRequest) TopInt(name string, dst **int64, lo, hi float64) error {
	v, ok := c.Top(name)
	if !ok {
		return nil
	}
	var f float64
	if json.Unmarshal(v, &f) != nil || f != float64(int64(f)) {
		return BadRequest(name, "%s must be an integer", name)
	}
	if f < lo || f > hi {
		return BadRequest(name, "%s must be between %g and %g", name, lo, hi)
	}
	n := int64(f)
	*dst = &n
	return nil
}
