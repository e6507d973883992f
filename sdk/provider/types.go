package provider

import "encoding/json"

// Info describes a plugin: what GetInfo answers.
type Info struct {
	// Name is the short lowercase name of the plugin kind ("openai", "mock").
	Name    string
	Version string
	// Models the plugin knows without configuration; may be empty.
	Models []ModelInfo
	// Capabilities of the plugin as a whole: "stream", "tools", "json", "vision".
	Capabilities []string
	// OpenAINative says the plugin accepts Request.RawBody and forwards it without re-encoding.
	OpenAINative bool
}

// ModelInfo describes one model a plugin serves.
type ModelInfo struct {
	ID            string
	ContextWindow int64
	Capabilities  []string
}

// Config is what Configure receives. Secrets must never be logged or put in an error.
type Config struct {
	// Instance is the provider's name in the host config.
	Instance string
	// Settings is the provider's settings object from the host config, as JSON.
	Settings json.RawMessage
	// Secrets by name, for example "api_key".
	Secrets     map[string]string
	HostVersion string
}

// Request is one chat completion request, in OpenAI's terms.
type Request struct {
	// ID is the request's id (x-request-id).
	ID string
	// Model is the upstream model name to call.
	Model      string
	Messages   []Message
	Tools      []Tool
	ToolChoice json.RawMessage
	// Sampling parameters; nil means the client did not set them.
	Temperature      *float64
	TopP             *float64
	PresencePenalty  *float64
	FrequencyPenalty *float64
	Seed             *int64
	// MaxTokens is max_tokens or max_completion_tokens; 0 means unset.
	MaxTokens         int64
	Stop              []string
	ResponseFormat    *ResponseFormat
	IncludeUsage      bool
	N                 int
	User              string
	ReasoningEffort   string
	ParallelToolCalls *bool
	// Metadata without Switchyard's own keys; non-string values JSON-encoded.
	Metadata map[string]string
	// Extra holds the top-level fields of the client's body the fields above do not model.
	Extra json.RawMessage
	// RawBody is the client's original body with the model replaced. Only plugins whose
	// Info says OpenAINative receive it; when set it is authoritative over the typed fields.
	RawBody []byte
	// Stream tells whether the client asked for a stream.
	Stream bool
}

// Message is one chat message.
type Message struct {
	Role string
	// Content is the text content, used when Parts is empty.
	Content    string
	Parts      []ContentPart
	Name       string
	ToolCalls  []ToolCall
	ToolCallID string
	Refusal    string
	// Extra holds fields of the message not modelled above, as a JSON object.
	Extra json.RawMessage
}

// ContentPart is one element of an array content.
type ContentPart struct {
	// Type is "text" or "image_url"; other types are kept whole in Raw.
	Type        string
	Text        string
	ImageURL    string
	ImageDetail string
	Raw         json.RawMessage
}

// Tool is a function the model may call.
type Tool struct {
	Type        string
	Name        string
	Description string
	Parameters  json.RawMessage
	Strict      bool
}

// ToolCall is a call the model made; in a stream, a fragment of one (Index says which).
type ToolCall struct {
	Index     int
	ID        string
	Type      string
	Name      string
	Arguments string
}

// ResponseFormat is the client's response_format.
type ResponseFormat struct {
	// Type is "text", "json_object" or "json_schema".
	Type string
	// JSONSchema is the json_schema object as the client sent it.
	JSONSchema json.RawMessage
}

// Response is a whole answer.
type Response struct {
	ID                string
	Model             string
	Created           int64
	Choices           []Choice
	Usage             *Usage
	SystemFingerprint string
}

// Choice is one answer of a Response.
type Choice struct {
	Index        int
	Message      Message
	FinishReason string
}

// Usage counts tokens.
type Usage struct {
	PromptTokens       int64
	CompletionTokens   int64
	TotalTokens        int64
	CachedPromptTokens int64
	ReasoningTokens    int64
	CacheWriteTokens   int64
}

// Chunk is one delta of a stream.
type Chunk struct {
	ID      string
	Model   string
	Created int64
	Choices []Delta
}

// Delta is the part of one choice a Chunk adds.
type Delta struct {
	Index        int
	Role         string
	Content      string
	ToolCalls    []ToolCall
	FinishReason string
	Refusal      string
}

// ChunkSender receives the deltas of a stream in order. Send returns an error when the
// receiver is gone (the client disconnected); the stream should then stop.
type ChunkSender interface {
	Send(*Chunk) error
}
