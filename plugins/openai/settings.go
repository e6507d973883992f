package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Defaults of the settings.
const (
	DefaultBaseURL             = "https://api.openai.com/v1"
	DefaultTimeout             = 600 * time.Second
	DefaultMaxIdleConnsPerHost = 256
	// healthTimeout bounds the GET /models of health_check "models".
	healthTimeout = 5 * time.Second
)

// Settings is the provider's settings object from the host config. Unknown keys are
// refused. See README.md for every key.
type Settings struct {
	// BaseURL is the OpenAI-compatible API root, including its version path
	// ("https://api.openai.com/v1", "http://localhost:11434/v1"). Not used with Azure.
	BaseURL      string `json:"base_url"`
	Organization string `json:"organization"`
	Project      string `json:"project"`
	// Headers are added to every upstream request (OpenRouter's HTTP-Referer, X-Title...).
	Headers map[string]string `json:"headers"`
	// Query parameters added to every upstream request.
	Query map[string]string `json:"query"`
	// TimeoutMS bounds one upstream call, streams included, in milliseconds; 0 means the
	// default of 10 minutes. The host's own deadline still applies.
	TimeoutMS int64 `json:"timeout_ms"`
	// Azure switches the plugin to Azure OpenAI's paths and api-key header.
	Azure *AzureSettings `json:"azure"`
	// MaxIdleConnsPerHost is the keep-alive pool per upstream host; 0 means 256.
	MaxIdleConnsPerHost int `json:"max_idle_conns_per_host"`
	// HealthCheck is "none" (the default: no upstream call) or "models" (GET /models).
	HealthCheck string `json:"health_check"`
	// MaxTokensField names the body field the typed path sends the token limit in:
	// "max_completion_tokens", "max_tokens", or "auto" (the default): max_completion_tokens
	// for api.openai.com and Azure, max_tokens for every other server.
	MaxTokensField string `json:"max_tokens_field"`
	// EmbeddingEncodingFormat is the encoding_format Embed asks the upstream for:
	// "base64" (the default: about a third of the bytes of "float", and the exact float32
	// bits) or "float", for a server that refuses base64. Either shape of answer is read,
	// whatever was asked, since some servers ignore the field.
	EmbeddingEncodingFormat string `json:"embedding_encoding_format"`
}

// AzureSettings configures Azure OpenAI.
type AzureSettings struct {
	// Endpoint is the resource's endpoint, "https://<resource>.openai.azure.com".
	Endpoint string `json:"endpoint"`
	// APIVersion is the api-version query parameter, "2024-10-21".
	APIVersion string `json:"api_version"`
	// Deployments maps a model name (the catalogue's upstream model) to its deployment
	// name; a model not listed is used as the deployment name.
	Deployments map[string]string `json:"deployments"`
}

// parseSettings decodes the settings strictly, fills defaults and validates them.
func parseSettings(raw json.RawMessage) (Settings, error) {
	var s Settings
	if len(bytes.TrimSpace(raw)) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return Settings{}, fmt.Errorf("settings: %w", err)
		}
		if dec.More() {
			return Settings{}, errors.New("settings: more than one JSON value")
		}
	}
	if s.Azure != nil {
		if s.BaseURL != "" {
			return Settings{}, errors.New("settings: base_url and azure are exclusive; azure.endpoint sets the address")
		}
		if err := checkURL("azure.endpoint", s.Azure.Endpoint); err != nil {
			return Settings{}, err
		}
		if s.Azure.APIVersion == "" {
			return Settings{}, errors.New("settings: azure.api_version is required (for example \"2024-10-21\")")
		}
		s.Azure.Endpoint = strings.TrimRight(s.Azure.Endpoint, "/")
		for model, dep := range s.Azure.Deployments {
			if model == "" || dep == "" {
				return Settings{}, fmt.Errorf("settings: azure.deployments: empty model or deployment name (%q: %q)", model, dep)
			}
		}
	} else {
		if s.BaseURL == "" {
			s.BaseURL = DefaultBaseURL
		}
		if err := checkURL("base_url", s.BaseURL); err != nil {
			return Settings{}, err
		}
		s.BaseURL = strings.TrimRight(s.BaseURL, "/")
	}
	switch {
	case s.TimeoutMS < 0:
		return Settings{}, fmt.Errorf("settings: timeout_ms must not be negative, got %d", s.TimeoutMS)
	case s.TimeoutMS == 0:
		s.TimeoutMS = DefaultTimeout.Milliseconds()
	}
	switch {
	case s.MaxIdleConnsPerHost < 0:
		return Settings{}, fmt.Errorf("settings: max_idle_conns_per_host must not be negative, got %d", s.MaxIdleConnsPerHost)
	case s.MaxIdleConnsPerHost == 0:
		s.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	switch s.HealthCheck {
	case "":
		s.HealthCheck = "none"
	case "none", "models":
	default:
		return Settings{}, fmt.Errorf("settings: health_check must be \"none\" or \"models\", got %q", s.HealthCheck)
	}
	switch s.MaxTokensField {
	case "", "auto":
		s.MaxTokensField = "max_tokens"
		if s.Azure != nil || isOpenAIHost(s.BaseURL) {
			s.MaxTokensField = "max_completion_tokens"
		}
	case "max_tokens", "max_completion_tokens":
	default:
		return Settings{}, fmt.Errorf("settings: max_tokens_field must be \"auto\", \"max_tokens\" or \"max_completion_tokens\", got %q", s.MaxTokensField)
	}
	switch s.EmbeddingEncodingFormat {
	case "":
		s.EmbeddingEncodingFormat = "base64"
	case "base64", "float":
	default:
		return Settings{}, fmt.Errorf("settings: embedding_encoding_format must be \"base64\" or \"float\", got %q", s.EmbeddingEncodingFormat)
	}
	for k := range s.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			return Settings{}, fmt.Errorf("settings: headers: bad header name %q", k)
		}
	}
	return s, nil
}

func checkURL(key, v string) error {
	if v == "" {
		return fmt.Errorf("settings: %s is required", key)
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("settings: %s must be an absolute http(s) URL, got %q", key, v)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("settings: %s must not hold a query or fragment (use \"query\"), got %q", key, v)
	}
	return nil
}

func isOpenAIHost(base string) bool {
	u, err := url.Parse(base)
	return err == nil && strings.EqualFold(u.Hostname(), "api.openai.com")
}

// parseSecrets takes the secrets the plugin knows; any other name is refused.
func parseSecrets(secrets map[string]string) (apiKey string, err error) {
	var unknown []string
	for k, v := range secrets {
		switch k {
		case "api_key":
			apiKey = strings.TrimSpace(v)
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return "", fmt.Errorf("secrets: unknown secret %q (known: api_key)", unknown[0])
	}
	return apiKey, nil
}

// timeout is the per-call upstream timeout.
func (s Settings) timeout() time.Duration { return time.Duration(s.TimeoutMS) * time.Millisecond }
