package mock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// Failure modes beyond the provider error kinds.
const (
	failCrash     = "crash"
	failHang      = "hang"
	failEmpty     = "empty"
	failMidStream = "mid_stream"
	failStall     = "stall"
	failNotJSON   = "not_json"
)

// metaPrefix starts every per-request knob in the request's metadata.
const metaPrefix = "mock."

// Settings is the mock's settings object in the host config. Every field can be
// overridden per request by the metadata key "mock.<json name>".
type Settings struct {
	// ChunkDelayMs is the pause between two streamed deltas.
	ChunkDelayMs int `json:"chunk_delay_ms"`
	// FirstTokenDelayMs is an extra pause before the first streamed delta.
	FirstTokenDelayMs int `json:"first_token_delay_ms"`
	// LatencyMs is a pause before any answer, streamed or not.
	LatencyMs int `json:"latency_ms"`
	// Fail is a provider.Kind name or crash, hang, empty, mid_stream, stall; "" for none.
	Fail string `json:"fail"`
	// FailModels limits Fail to these upstream models (comma-separated); "" means all.
	FailModels string `json:"fail_models"`
	// FailInstances limits Fail to these provider instances (comma-separated); "" means all.
	FailInstances string `json:"fail_instances"`
	// FailTimes makes only the first N matching requests fail (per process); 0 means all.
	FailTimes int `json:"fail_times"`
	// FailAfterChunks is how many deltas mid_stream, stall and crash send first.
	FailAfterChunks int `json:"fail_after_chunks"`
	// RetryAfterMs is the retry_after_ms of an injected rate_limited or upstream_unavailable.
	RetryAfterMs int `json:"retry_after_ms"`
	// HangHealth makes CheckHealth block until its deadline.
	HangHealth bool `json:"hang_health"`
	// FailHealth makes CheckHealth report unhealthy.
	FailHealth bool `json:"fail_health"`
	// ToolCall forces a tool call whenever the request offers tools.
	ToolCall bool `json:"tool_call"`
	// Reply replaces the generated answer text.
	Reply string `json:"reply"`
	// EmbeddingDimensions is the length of the vectors Embed answers when the request does
	// not ask for dimensions.
	EmbeddingDimensions int `json:"embedding_dimensions"`
}

// Embedding sizes: the default, and the largest a request or the settings may ask for
// (bigger than any real model's, small enough that a vector always fits a gRPC message).
const (
	defaultEmbeddingDimensions = 64
	maxEmbeddingDimensions     = 4096
)

func defaultSettings() Settings {
	return Settings{ChunkDelayMs: 5, FailAfterChunks: 2, EmbeddingDimensions: defaultEmbeddingDimensions}
}

// parseSettings decodes the settings strictly: unknown keys and bad values are errors.
func parseSettings(raw []byte) (Settings, error) {
	s := defaultSettings()
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return s, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Settings{}, fmt.Errorf("mock: settings: %w", err)
	}
	if err := s.validate(); err != nil {
		return Settings{}, fmt.Errorf("mock: settings: %w", err)
	}
	return s, nil
}

func (s Settings) validate() error {
	if !validFail(s.Fail) {
		return fmt.Errorf("fail: unknown mode %q", s.Fail)
	}
	for name, v := range map[string]int{
		"chunk_delay_ms": s.ChunkDelayMs, "first_token_delay_ms": s.FirstTokenDelayMs,
		"latency_ms": s.LatencyMs, "fail_times": s.FailTimes,
		"fail_after_chunks": s.FailAfterChunks, "retry_after_ms": s.RetryAfterMs,
	} {
		if v < 0 {
			return fmt.Errorf("%s: must not be negative, got %d", name, v)
		}
	}
	if s.EmbeddingDimensions < 1 || s.EmbeddingDimensions > maxEmbeddingDimensions {
		return fmt.Errorf("embedding_dimensions: must be between 1 and %d, got %d", maxEmbeddingDimensions, s.EmbeddingDimensions)
	}
	return nil
}

func validFail(f string) bool {
	switch f {
	case "", failCrash, failHang, failEmpty, failMidStream, failStall, failNotJSON:
		return true
	}
	return provider.Kind(f).Valid()
}

// withMetadata returns s overridden by the request's mock.* metadata. A bad value is an
// invalid_request, as a real upstream would answer a bad parameter.
func (s Settings) withMetadata(md map[string]string) (Settings, error) {
	for k, v := range md {
		name, ok := strings.CutPrefix(k, metaPrefix)
		if !ok {
			continue
		}
		var err error
		switch name {
		case "chunk_delay_ms":
			s.ChunkDelayMs, err = atoi(v)
		case "first_token_delay_ms":
			s.FirstTokenDelayMs, err = atoi(v)
		case "latency_ms":
			s.LatencyMs, err = atoi(v)
		case "fail":
			s.Fail = v
		case "fail_models":
			s.FailModels = v
		case "fail_instances":
			s.FailInstances = v
		case "fail_times":
			s.FailTimes, err = atoi(v)
		case "fail_after_chunks":
			s.FailAfterChunks, err = atoi(v)
		case "retry_after_ms":
			s.RetryAfterMs, err = atoi(v)
		case "hang_health":
			s.HangHealth, err = strconv.ParseBool(v)
		case "fail_health":
			s.FailHealth, err = strconv.ParseBool(v)
		case "tool_call":
			s.ToolCall, err = strconv.ParseBool(v)
		case "reply":
			s.Reply = v
		case "embedding_dimensions":
			s.EmbeddingDimensions, err = atoi(v)
		default:
			err = fmt.Errorf("unknown knob")
		}
		if err != nil {
			return s, provider.NewError(provider.KindInvalidRequest, "mock: metadata %s=%q: %v", k, v, err)
		}
	}
	if err := s.validate(); err != nil {
		return s, provider.NewError(provider.KindInvalidRequest, "mock: metadata: %v", err)
	}
	return s, nil
}

func atoi(v string) (int, error) {
	// Metadata values that were JSON numbers arrive as their JSON text.
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("not an integer")
	}
	return n, nil
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// inList reports whether name is in the comma-separated list; an empty list holds all.
func inList(list, name string) bool {
	if strings.TrimSpace(list) == "" {
		return true
	}
	for _, item := range strings.Split(list, ",") {
		if strings.TrimSpace(item) == name {
			return true
		}
	}
	return false
}
