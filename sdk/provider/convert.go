package provider

import (
	"time"

	providerv1 "github.com/switchyard-llm/switchyard/api/provider/v1"
)

// Conversions between the SDK types and the protocol's messages. They are lossless for
// every value the wire can tell apart: an empty slice, map or byte string and a nil one
// both become nil, because protobuf does not distinguish them.

var kindToProto = map[Kind]providerv1.ErrorKind{
	KindInvalidRequest:        providerv1.ErrorKind_ERROR_KIND_INVALID_REQUEST,
	KindAuthentication:        providerv1.ErrorKind_ERROR_KIND_AUTHENTICATION,
	KindPermissionDenied:      providerv1.ErrorKind_ERROR_KIND_PERMISSION_DENIED,
	KindNotFound:              providerv1.ErrorKind_ERROR_KIND_NOT_FOUND,
	KindContextLengthExceeded: providerv1.ErrorKind_ERROR_KIND_CONTEXT_LENGTH_EXCEEDED,
	KindContentFiltered:       providerv1.ErrorKind_ERROR_KIND_CONTENT_FILTERED,
	KindRateLimited:           providerv1.ErrorKind_ERROR_KIND_RATE_LIMITED,
	KindQuotaExhausted:        providerv1.ErrorKind_ERROR_KIND_QUOTA_EXHAUSTED,
	KindUpstreamUnavailable:   providerv1.ErrorKind_ERROR_KIND_UPSTREAM_UNAVAILABLE,
	KindUpstreamTimeout:       providerv1.ErrorKind_ERROR_KIND_UPSTREAM_TIMEOUT,
	KindUnsupported:           providerv1.ErrorKind_ERROR_KIND_UNSUPPORTED,
	KindInternal:              providerv1.ErrorKind_ERROR_KIND_INTERNAL,
	KindCancelled:             providerv1.ErrorKind_ERROR_KIND_CANCELLED,
}

var kindFromProto = func() map[providerv1.ErrorKind]Kind {
	m := make(map[providerv1.ErrorKind]Kind, len(kindToProto))
	for k, v := range kindToProto {
		m[v] = k
	}
	return m
}()

func errorToProto(e *Error) *providerv1.ProviderError {
	if e == nil {
		return nil
	}
	kind, ok := kindToProto[e.Kind]
	if !ok {
		kind = providerv1.ErrorKind_ERROR_KIND_INTERNAL
	}
	return &providerv1.ProviderError{
		Kind:           kind,
		Message:        e.Message,
		Retryable:      e.Retryable,
		UpstreamStatus: int32(e.UpstreamStatus),
		RetryAfterMs:   e.RetryAfter.Milliseconds(),
		OutputStarted:  e.OutputStarted,
	}
}

// errorFromProto maps an unknown or unspecified kind (a newer or broken plugin) to internal.
func errorFromProto(p *providerv1.ProviderError) *Error {
	if p == nil {
		return nil
	}
	kind, ok := kindFromProto[p.GetKind()]
	if !ok {
		kind = KindInternal
	}
	ra := time.Duration(0)
	if ms := p.GetRetryAfterMs(); ms > 0 {
		ra = time.Duration(min(ms, maxRetryAfter.Milliseconds())) * time.Millisecond
	}
	return &Error{
		Kind:           kind,
		Message:        p.GetMessage(),
		Retryable:      p.GetRetryable(),
		UpstreamStatus: int(p.GetUpstreamStatus()),
		RetryAfter:     ra,
		OutputStarted:  p.GetOutputStarted(),
	}
}

func bytesOrNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func stringsOrNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func mapOrNil(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func infoToProto(in Info) *providerv1.GetInfoResponse {
	out := &providerv1.GetInfoResponse{
		Name:            in.Name,
		Version:         in.Version,
		Capabilities:    stringsOrNil(in.Capabilities),
		OpenaiNative:    in.OpenAINative,
		Endpoints:       stringsOrNil(in.Endpoints),
		NativeEndpoints: stringsOrNil(in.NativeEndpoints),
	}
	for _, m := range in.Models {
		out.Models = append(out.Models, &providerv1.ModelInfo{
			Id:            m.ID,
			ContextWindow: m.ContextWindow,
			Capabilities:  stringsOrNil(m.Capabilities),
			Endpoints:     stringsOrNil(m.Endpoints),
		})
	}
	return out
}

func infoFromProto(in *providerv1.GetInfoResponse) Info {
	out := Info{
		Name:            in.GetName(),
		Version:         in.GetVersion(),
		Capabilities:    stringsOrNil(in.GetCapabilities()),
		OpenAINative:    in.GetOpenaiNative(),
		Endpoints:       stringsOrNil(in.GetEndpoints()),
		NativeEndpoints: stringsOrNil(in.GetNativeEndpoints()),
	}
	for _, m := range in.GetModels() {
		out.Models = append(out.Models, ModelInfo{
			ID:            m.GetId(),
			ContextWindow: m.GetContextWindow(),
			Capabilities:  stringsOrNil(m.GetCapabilities()),
			Endpoints:     stringsOrNil(m.GetEndpoints()),
		})
	}
	return out
}

func configToProto(c Config) *providerv1.ConfigureRequest {
	return &providerv1.ConfigureRequest{
		Instance:     c.Instance,
		SettingsJson: bytesOrNil(c.Settings),
		Secrets:      mapOrNil(c.Secrets),
		HostVersion:  c.HostVersion,
	}
}

func configFromProto(c *providerv1.ConfigureRequest) Config {
	return Config{
		Instance:    c.GetInstance(),
		Settings:    bytesOrNil(c.GetSettingsJson()),
		Secrets:     mapOrNil(c.GetSecrets()),
		HostVersion: c.GetHostVersion(),
	}
}

func requestToProto(r *Request) *providerv1.ChatRequest {
	if r == nil {
		return &providerv1.ChatRequest{}
	}
	out := &providerv1.ChatRequest{
		RequestId:         r.ID,
		Model:             r.Model,
		ToolChoiceJson:    bytesOrNil(r.ToolChoice),
		Temperature:       r.Temperature,
		TopP:              r.TopP,
		MaxTokens:         r.MaxTokens,
		Stop:              stringsOrNil(r.Stop),
		IncludeUsage:      r.IncludeUsage,
		Seed:              r.Seed,
		PresencePenalty:   r.PresencePenalty,
		FrequencyPenalty:  r.FrequencyPenalty,
		N:                 int32(r.N),
		User:              r.User,
		ReasoningEffort:   r.ReasoningEffort,
		ParallelToolCalls: r.ParallelToolCalls,
		Metadata:          mapOrNil(r.Metadata),
		ExtraJson:         bytesOrNil(r.Extra),
		RawBody:           bytesOrNil(r.RawBody),
		Stream:            r.Stream,
		Endpoint:          r.Endpoint,
		Logprobs:          r.Logprobs,
		TopLogprobs:       r.TopLogprobs,
	}
	for i := range r.Messages {
		out.Messages = append(out.Messages, messageToProto(&r.Messages[i]))
	}
	for _, t := range r.Tools {
		out.Tools = append(out.Tools, &providerv1.Tool{
			Type:           t.Type,
			Name:           t.Name,
			Description:    t.Description,
			ParametersJson: bytesOrNil(t.Parameters),
			Strict:         t.Strict,
		})
	}
	if rf := r.ResponseFormat; rf != nil {
		out.ResponseFormat = &providerv1.ResponseFormat{Type: rf.Type, JsonSchema: bytesOrNil(rf.JSONSchema)}
	}
	return out
}

func requestFromProto(r *providerv1.ChatRequest) *Request {
	out := &Request{
		ID:                r.GetRequestId(),
		Model:             r.GetModel(),
		ToolChoice:        bytesOrNil(r.GetToolChoiceJson()),
		Temperature:       r.Temperature,
		TopP:              r.TopP,
		PresencePenalty:   r.PresencePenalty,
		FrequencyPenalty:  r.FrequencyPenalty,
		Seed:              r.Seed,
		MaxTokens:         r.GetMaxTokens(),
		Stop:              stringsOrNil(r.GetStop()),
		IncludeUsage:      r.GetIncludeUsage(),
		N:                 int(r.GetN()),
		User:              r.GetUser(),
		ReasoningEffort:   r.GetReasoningEffort(),
		ParallelToolCalls: r.ParallelToolCalls,
		Metadata:          mapOrNil(r.GetMetadata()),
		Extra:             bytesOrNil(r.GetExtraJson()),
		RawBody:           bytesOrNil(r.GetRawBody()),
		Stream:            r.GetStream(),
		Endpoint:          r.GetEndpoint(),
		Logprobs:          r.GetLogprobs(),
		TopLogprobs:       r.TopLogprobs,
	}
	for _, m := range r.GetMessages() {
		out.Messages = append(out.Messages, messageFromProto(m))
	}
	for _, t := range r.GetTools() {
		out.Tools = append(out.Tools, Tool{
			Type:        t.GetType(),
			Name:        t.GetName(),
			Description: t.GetDescription(),
			Parameters:  bytesOrNil(t.GetParametersJson()),
			Strict:      t.GetStrict(),
		})
	}
	if rf := r.GetResponseFormat(); rf != nil {
		out.ResponseFormat = &ResponseFormat{Type: rf.GetType(), JSONSchema: bytesOrNil(rf.GetJsonSchema())}
	}
	return out
}

func messageToProto(m *Message) *providerv1.Message {
	out := &providerv1.Message{
		Role:       m.Role,
		Content:    m.Content,
		Name:       m.Name,
		ToolCalls:  toolCallsToProto(m.ToolCalls),
		ToolCallId: m.ToolCallID,
		ExtraJson:  bytesOrNil(m.Extra),
		Refusal:    m.Refusal,
	}
	for _, p := range m.Parts {
		out.Parts = append(out.Parts, &providerv1.ContentPart{
			Type:        p.Type,
			Text:        p.Text,
			ImageUrl:    p.ImageURL,
			ImageDetail: p.ImageDetail,
			RawJson:     bytesOrNil(p.Raw),
		})
	}
	return out
}

func messageFromProto(m *providerv1.Message) Message {
	out := Message{
		Role:       m.GetRole(),
		Content:    m.GetContent(),
		Name:       m.GetName(),
		ToolCalls:  toolCallsFromProto(m.GetToolCalls()),
		ToolCallID: m.GetToolCallId(),
		Refusal:    m.GetRefusal(),
		Extra:      bytesOrNil(m.GetExtraJson()),
	}
	for _, p := range m.GetParts() {
		out.Parts = append(out.Parts, ContentPart{
			Type:        p.GetType(),
			Text:        p.GetText(),
			ImageURL:    p.GetImageUrl(),
			ImageDetail: p.GetImageDetail(),
			Raw:         bytesOrNil(p.GetRawJson()),
		})
	}
	return out
}

func toolCallsToProto(tc []ToolCall) []*providerv1.ToolCall {
	var out []*providerv1.ToolCall
	for _, c := range tc {
		out = append(out, &providerv1.ToolCall{
			Index:     int32(c.Index),
			Id:        c.ID,
			Type:      c.Type,
			Name:      c.Name,
			Arguments: c.Arguments,
		})
	}
	return out
}

func toolCallsFromProto(tc []*providerv1.ToolCall) []ToolCall {
	var out []ToolCall
	for _, c := range tc {
		out = append(out, ToolCall{
			Index:     int(c.GetIndex()),
			ID:        c.GetId(),
			Type:      c.GetType(),
			Name:      c.GetName(),
			Arguments: c.GetArguments(),
		})
	}
	return out
}

func usageToProto(u *Usage) *providerv1.Usage {
	if u == nil {
		return nil
	}
	return &providerv1.Usage{
		PromptTokens:       u.PromptTokens,
		CompletionTokens:   u.CompletionTokens,
		TotalTokens:        u.TotalTokens,
		CachedPromptTokens: u.CachedPromptTokens,
		ReasoningTokens:    u.ReasoningTokens,
		CacheWriteTokens:   u.CacheWriteTokens,
	}
}

func usageFromProto(u *providerv1.Usage) *Usage {
	if u == nil {
		return nil
	}
	return &Usage{
		PromptTokens:       u.GetPromptTokens(),
		CompletionTokens:   u.GetCompletionTokens(),
		TotalTokens:        u.GetTotalTokens(),
		CachedPromptTokens: u.GetCachedPromptTokens(),
		ReasoningTokens:    u.GetReasoningTokens(),
		CacheWriteTokens:   u.GetCacheWriteTokens(),
	}
}

func responseToProto(r *Response) *providerv1.ChatResponse {
	out := &providerv1.ChatResponse{
		Id:                r.ID,
		Model:             r.Model,
		Created:           r.Created,
		Usage:             usageToProto(r.Usage),
		SystemFingerprint: r.SystemFingerprint,
		ServiceTier:       r.ServiceTier,
		RawBody:           bytesOrNil(r.RawBody),
	}
	for i := range r.Choices {
		c := &r.Choices[i]
		out.Choices = append(out.Choices, &providerv1.Choice{
			Index:        int32(c.Index),
			Message:      messageToProto(&c.Message),
			FinishReason: c.FinishReason,
			LogprobsJson: bytesOrNil(c.Logprobs),
		})
	}
	return out
}

func responseFromProto(r *providerv1.ChatResponse) *Response {
	out := &Response{
		ID:                r.GetId(),
		Model:             r.GetModel(),
		Created:           r.GetCreated(),
		Usage:             usageFromProto(r.GetUsage()),
		SystemFingerprint: r.GetSystemFingerprint(),
		ServiceTier:       r.GetServiceTier(),
		RawBody:           bytesOrNil(r.GetRawBody()),
	}
	for _, c := range r.GetChoices() {
		ch := Choice{Index: int(c.GetIndex()), FinishReason: c.GetFinishReason(), Logprobs: bytesOrNil(c.GetLogprobsJson())}
		if c.GetMessage() != nil {
			ch.Message = messageFromProto(c.GetMessage())
		}
		out.Choices = append(out.Choices, ch)
	}
	return out
}

func chunkToProto(c *Chunk) *providerv1.ChatChunk {
	out := &providerv1.ChatChunk{Id: c.ID, Model: c.Model, Created: c.Created,
		SystemFingerprint: c.SystemFingerprint, ServiceTier: c.ServiceTier, RawEvent: bytesOrNil(c.RawEvent)}
	for _, d := range c.Choices {
		out.Choices = append(out.Choices, &providerv1.ChoiceDelta{
			Index:        int32(d.Index),
			Role:         d.Role,
			Content:      d.Content,
			ToolCalls:    toolCallsToProto(d.ToolCalls),
			FinishReason: d.FinishReason,
			Refusal:      d.Refusal,
			LogprobsJson: bytesOrNil(d.Logprobs),
		})
	}
	return out
}

func chunkFromProto(c *providerv1.ChatChunk) *Chunk {
	out := &Chunk{ID: c.GetId(), Model: c.GetModel(), Created: c.GetCreated(),
		SystemFingerprint: c.GetSystemFingerprint(), ServiceTier: c.GetServiceTier(), RawEvent: bytesOrNil(c.GetRawEvent())}
	for _, d := range c.GetChoices() {
		out.Choices = append(out.Choices, Delta{
			Index:        int(d.GetIndex()),
			Role:         d.GetRole(),
			Content:      d.GetContent(),
			ToolCalls:    toolCallsFromProto(d.GetToolCalls()),
			FinishReason: d.GetFinishReason(),
			Refusal:      d.GetRefusal(),
			Logprobs:     bytesOrNil(d.GetLogprobsJson()),
		})
	}
	return out
}

func embedRequestToProto(r *EmbedRequest) *providerv1.EmbedRequest {
	return &providerv1.EmbedRequest{RequestId: r.ID, Model: r.Model, Input: stringsOrNil(r.Input),
		Dimensions: int32(r.Dimensions), User: r.User, ExtraJson: bytesOrNil(r.Extra)}
}

func embedRequestFromProto(r *providerv1.EmbedRequest) *EmbedRequest {
	return &EmbedRequest{ID: r.GetRequestId(), Model: r.GetModel(), Input: stringsOrNil(r.GetInput()),
		Dimensions: int(r.GetDimensions()), User: r.GetUser(), Extra: bytesOrNil(r.GetExtraJson())}
}

func embedResponseToProto(r *EmbedResponse) *providerv1.EmbedResponse {
	out := &providerv1.EmbedResponse{Model: r.Model, Usage: usageToProto(r.Usage)}
	for _, e := range r.Data {
		out.Data = append(out.Data, &providerv1.Embedding{Index: int32(e.Index), Vector: e.Vector})
	}
	return out
}

func embedResponseFromProto(r *providerv1.EmbedResponse) *EmbedResponse {
	out := &EmbedResponse{Model: r.GetModel(), Usage: usageFromProto(r.GetUsage())}
	for _, e := range r.GetData() {
		out.Data = append(out.Data, Embedding{Index: int(e.GetIndex()), Vector: e.GetVector()})
	}
	return out
}
