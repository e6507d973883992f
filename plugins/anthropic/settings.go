package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Settings is the provider's settings object from the host config. Unknown keys are
// refused.
type Settings struct {
	// BaseURL is the API's root; requests go to BaseURL + "/v1/messages".
	BaseURL string `json:"base_url"`
	// AnthropicVersion is sent as the anthropic-version header.
	AnthropicVersion string `json:"anthropic_version"`
	// Beta lists beta features, sent joined by commas as the anthropic-beta header.
	Beta []string `json:"beta"`
	// Headers are extra headers sent with every request.
	Headers map[string]string `json:"headers"`
	// DefaultMaxTokens is max_tokens when the client set none (Anthropic requires it).
	DefaultMaxTokens int64 `json:"default_max_tokens"`
	// TimeoutMS bounds one upstream call, the whole stream included.
	TimeoutMS int64 `json:"timeout_ms"`
	// MaxIdleConnsPerHost sizes the keep-alive pool towards the upstream.
	MaxIdleConnsPerHost int `json:"max_idle_conns_per_host"`
}

func defaultSettings() Settings {
	return Settings{
		BaseURL:             "https://api.anthropic.com",
		AnthropicVersion:    "2023-06-01",
		Beta:                []string{},
		Headers:             map[string]string{},
		DefaultMaxTokens:    4096,
		TimeoutMS:           600000,
		MaxIdleConnsPerHost: 256,
	}
}

// reservedHeaders are set by the plugin itself; settings.headers may not override them.
var reservedHeaders = []string{"x-api-key", "authorization", "anthropic-version", "anthropic-beta", "content-type", "content-length"}

// parseSettings decodes raw strictly over the defaults and validates the result.
func parseSettings(raw json.RawMessage) (Settings, error) {
	s := defaultSettings()
	if len(bytes.TrimSpace(raw)) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return Settings{}, fmt.Errorf("anthropic: settings: %w", err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return Settings{}, errors.New("anthropic: settings: trailing data after the object")
		}
	}
	if err := s.validate(); err != nil {
		return Settings{}, fmt.Errorf("anthropic: settings: %w", err)
	}
	return s, nil
}

func (s *Settings) validate() error {
	u, err := url.Parse(s.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("base_url %q: want an absolute http(s) URL", s.BaseURL)
	}
	if u.User != nil {
		return errors.New("base_url: credentials in the URL are not allowed, use secrets.api_key")
	}
	if strings.TrimSpace(s.AnthropicVersion) == "" {
		return errors.New("anthropic_version: must not be empty")
	}
	for _, b := range s.Beta {
		if strings.TrimSpace(b) == "" || strings.Contains(b, ",") {
			return fmt.Errorf("beta: bad entry %q", b)
		}
	}
	for k := range s.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			return fmt.Errorf("headers: bad header name %q", k)
		}
		if slices.Contains(reservedHeaders, strings.ToLower(k)) {
			return fmt.Errorf("headers: %q is set by the plugin and cannot be overridden", k)
		}
	}
	if s.DefaultMaxTokens <= 0 {
		return fmt.Errorf("default_max_tokens: must be positive, got %d", s.DefaultMaxTokens)
	}
	if s.TimeoutMS <= 0 {
		return fmt.Errorf("timeout_ms: must be positive, got %d", s.TimeoutMS)
	}
	if s.MaxIdleConnsPerHost <= 0 {
		return fmt.Errorf("max_idle_conns_per_host: must be positive, got %d", s.MaxIdleConnsPerHost)
	}
	return nil
}

func (s *Settings) timeout() time.Duration { return time.Duration(s.TimeoutMS) * time.Millisecond }

// httpClient is the tuned client towards the upstream: keep-alive with a large idle pool
// (one host), HTTP/2 when the server offers it, no overall timeout (the context and
// timeout_ms bound each call, streams included).
func (s *Settings) httpClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = s.MaxIdleConnsPerHost
	t.MaxIdleConnsPerHost = s.MaxIdleConnsPerHost
	t.IdleConnTimeout = 90 * time.Second
	t.ForceAttemptHTTP2 = true
	return &http.Client{Transport: t}
}
