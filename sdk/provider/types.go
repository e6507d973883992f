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
	// Endpoints are the client APIs the plugin serves (the Endpoint* kinds); empty means
	// chat completions only, what every plugin before protocol v1.1 serves. The host
	// translates responses, messages and completions requests to chat for a plugin that
	// does not list them; embeddings need Embedder.
	Endpoints []string
	// NativeEndpoints are the kinds whose client body the plugin forwards as is: for these
	// Request.RawBody is the client's body in that API's format and the answer carries the
	// upstream's bytes (Response.RawBody, Chunk.RawEvent) besides the typed fields.
	NativeEndpoints []string
}

// Endpoint kinds: the client APIs a request can come in through.
const (
	EndpointChat        = "chat.completions"
	EndpointResponses   = "responses"
	EndpointMessages    = "messages"
	EndpointCompletions = "completions"
	EndpointEmbeddings  = "embeddings"
	// EndpointCountTokens is Anthropic's POST /v1/messages/count_tokens, served through
	// Complete by a plugin that lists it natively: Request.RawBody is the client's body,
	// and the answer's Usage.PromptTokens the count (RawBody the upstream's JSON).
	EndpointCountTokens = "messages.count_tokens"
)

// Serves reports whether the plugin serves the endpoint kind (directly, or through the
// host's translation to chat for every kind but embeddings).
func (in Info) Serves(kind string) bool {
	switch kind {
	case "", EndpointChat, EndpointResponses, EndpointMessages, EndpointCompletions:
		return true
	}
	return in.lists(kind)
}

// lists reports whether Endpoints names kind (chat completions when it is empty).
func (in Info) lists(kind string) bool {
	if len(in.Endpoints) == 0 {
		return kind == EndpointChat
	}
	for _, k := range in.Endpoints {
		if k == kind {
			return true
		}
	}
	return false
}

// Native reports whether the plugin forwards the client's body of the endpoint kind as is.
func (in Info) Native(kind string) bool {
	if kind == "" || kind == EndpointChat {
		if in.OpenAINative {
			return true
		}
		kind = EndpointChat
	}
	for _, k := range in.NativeEndpoints {
		if k == kind {
			return true
		}
	}
	return false
}

// ModelInfo describes one model a plugin serves.
type ModelInfo struct {
	ID            string
	ContextWindow int64
	Capabilities  []string
	// Endpoints are the kinds this model serves when the plugin knows; empty means every
	// kind the plugin serves.
	Endpoints []string
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
	// Endpoint is the API the client spoke (an Endpoint* kind; "" is chat completions).
	// The typed fields hold the request translated to chat whatever it is; RawBody holds
	// the client's own body in this API's format for a plugin whose Info.Native(Endpoint).
	Endpoint string
	// Logprobs and TopLogprobs are what the client asked for (TopLogprobs nil: unset).
	Logprobs    bool
	TopLogprobs *int32
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
	ServiceTier       string
	// RawBody is the upstream's whole answer in the request's endpoint format, for a
	// request that carried RawBody for a native endpoint other than chat completions.
	RawBody []byte
}

// Choice is one answer of a Response.
type Choice struct {
	Index        int
	Message      Message
	FinishReason string
	// Logprobs is the choice's logprobs object in OpenAI's format, JSON.
	Logprobs json.RawMessage
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
	// Stream-level extras the upstream sent.
	SystemFingerprint string
	ServiceTier       string
	// RawEvent holds the upstream's server-sent events this chunk stands for, framed as
	// received, for a request that carried RawBody for a native endpoint other than chat
	// completions. The host writes them to the client as is; Choices still carry the
	// content. A chunk may hold only RawEvent (an event without content, such as a ping).
	RawEvent []byte
}

// Delta is the part of one choice a Chunk adds.
type Delta struct {
	Index        int
	Role         string
	Content      string
	ToolCalls    []ToolCall
	FinishReason string
	Refusal      string
	// Logprobs is the delta's logprobs object in OpenAI's format, JSON.
	Logprobs json.RawMessage
}

// EmbedRequest is one embeddings request.
type EmbedRequest struct {
	ID    string
	Model string
	// Input holds the texts to embed, in order.
	Input []string
	// Dimensions is what the client asked for, 0 when unset.
	Dimensions int
	User       string
	// Extra holds the top-level fields of the client's body not modelled above.
	Extra json.RawMessage
}

// EmbedResponse is the answer to an EmbedRequest: one vector per input, in order.
type EmbedResponse struct {
	Model string
	Data  []Embedding
	Usage *Usage
}

// Embedding is one input's vector.
type Embedding struct {
	Index  int
	Vector []float32
}

// ChunkSender receives the deltas of a stream in order. Send returns an error when the
// receiver is gone (the client disconnected); the stream should then stop.
type ChunkSender interface {
	Send(*Chunk) error
}
