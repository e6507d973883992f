package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The fakes here speak the wire formats of the APIs the router forwards natively, as
// recorded from the real services: Anthropic's Messages API (plain and SSE, named events)
// and OpenAI's Responses, legacy completions, embeddings and chat. Each keeps the last
// body it received, so a test can check the router forwarded the client's bytes.

// upstream is a fake API server and what it last received.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	last map[string][]byte // by path
}

func (u *upstream) body(path string) []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last[path]
}

func (u *upstream) keep(path string, b []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.last[path] = b
}

func startUpstream(t *testing.T, h func(u *upstream, w http.ResponseWriter, r *http.Request, body []byte)) *upstream {
	u := &upstream{last: map[string][]byte{}}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.keep(r.URL.Path, b)
		h(u, w, r, b)
	}))
	t.Cleanup(u.Close)
	return u
}

const anthropicKey = "sk-ant-test-key-0123456789"

// anthropicMessage is a whole Messages API answer as the service sends it.
const anthropicMessage = `{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-test-4","content":[{"type":"text","text":"Hello from Claude"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":4,"output_tokens":6}}`

// anthropicToolMessage answers with a tool_use block.
const anthropicToolMessage = `{"id":"msg_01Tool","type":"message","role":"assistant","model":"claude-test-4","content":[{"type":"text","text":"Let me look."},{"type":"tool_use","id":"toolu_01A","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":30,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":20}}`

// anthropicStream is a streamed answer, framed as the service frames it.
var anthropicStream = strings.Join([]string{
	"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01Stream\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-test-4\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n",
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
	"event: ping\ndata: {\"type\": \"ping\"}\n\n",
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" from Claude\"}}\n\n",
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":6}}\n\n",
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
}, "")

// fakeAnthropic serves POST /v1/messages (and count_tokens, which counts 42): a tool_use answer when the request has tools,
// the stream when it asks for one, a 401 in Anthropic's envelope for a wrong key.
func fakeAnthropic(t *testing.T) *upstream {
	return startUpstream(t, func(u *upstream, w http.ResponseWriter, r *http.Request, b []byte) {
		if r.Header.Get("x-api-key") != anthropicKey {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			io.WriteString(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`)
			return
		}
		var req struct {
			Stream bool              `json:"stream"`
			Tools  []json.RawMessage `json:"tools"`
		}
		_ = json.Unmarshal(b, &req)
		switch {
		case r.URL.Path == "/v1/messages/count_tokens":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"input_tokens":42}`)
		case r.URL.Path != "/v1/messages":
			w.WriteHeader(404)
			io.WriteString(w, `{"type":"error","error":{"type":"not_found_error","message":"not found"}}`)
		case req.Stream:
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, anthropicStream)
		case len(req.Tools) > 0:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, anthropicToolMessage)
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, anthropicMessage)
		}
	})
}

// openAIResponse is a whole Responses API answer as OpenAI sends it.
const openAIResponse = `{"id":"resp_67ccd2bed1ec8190b14f964abc054267","object":"response","created_at":1741476542,"status":"completed","error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"gpt-test-2026","output":[{"type":"message","id":"msg_67ccd2bf17f0819081ff3bb2cf6508e6","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello from Responses","annotations":[]}]}],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":0},"output_tokens":87,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":123},"user":null,"metadata":{}}`

// openAIResponseStream is the same answer streamed.
var openAIResponseStream = strings.Join([]string{
	"event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1741290958,\"status\":\"in_progress\",\"model\":\"gpt-test-2026\",\"output\":[],\"usage\":null}}\n\n",
	"event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":1,\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]}}\n\n",
	"event: response.content_part.added\ndata: {\"type\":\"response.content_part.added\",\"sequence_number\":2,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}}\n\n",
	"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":3,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hello\"}\n\n",
	"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\" from Responses\"}\n\n",
	"event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"sequence_number\":5,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"text\":\"Hello from Responses\"}\n\n",
	"event: response.content_part.done\ndata: {\"type\":\"response.content_part.done\",\"sequence_number\":6,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"Hello from Responses\",\"annotations\":[]}}\n\n",
	"event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":7,\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hello from Responses\",\"annotations\":[]}]}}\n\n",
	"event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":8,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1741290958,\"status\":\"completed\",\"model\":\"gpt-test-2026\",\"output\":[{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hello from Responses\",\"annotations\":[]}]}],\"usage\":{\"input_tokens\":36,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":87,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":123}}}\n\n",
}, "")

// fakeOpenAIAPIs serves OpenAI's chat completions, Responses, legacy completions and
// embeddings under /v1, with the key fakeOpenAI wants.
func fakeOpenAIAPIs(t *testing.T) *upstream {
	return startUpstream(t, func(u *upstream, w http.ResponseWriter, r *http.Request, b []byte) {
		if r.Header.Get("Authorization") != "Bearer sk-good-key-123456" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
			return
		}
		var req struct {
			Stream   bool              `json:"stream"`
			Input    json.RawMessage   `json:"input"`
			Tools    []json.RawMessage `json:"tools"`
			Messages []struct {
				Role string `json:"role"`
			} `json:"messages"`
		}
		_ = json.Unmarshal(b, &req)
		switch r.URL.Path {
		case "/v1/responses":
			if req.Stream {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, openAIResponseStream)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, openAIResponse)
		case "/v1/completions":
			if req.Stream {
				w.Header().Set("Content-Type", "text/event-stream")
				for _, txt := range []string{"Hello", " from", " completions"} {
					fmt.Fprintf(w, "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"choices\":[{\"text\":%q,\"index\":0,\"logprobs\":null,\"finish_reason\":null}],\"model\":\"gpt-test-instruct\"}\n\n", txt)
				}
				io.WriteString(w, "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"choices\":[{\"text\":\"\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}],\"model\":\"gpt-test-instruct\"}\n\n")
				io.WriteString(w, "data: [DONE]\n\n")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"cmpl-1","object":"text_completion","created":1,"model":"gpt-test-instruct","choices":[{"text":"Hello from completions","index":0,"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}`)
		case "/v1/embeddings":
			var in struct {
				Input          any    `json:"input"`
				EncodingFormat string `json:"encoding_format"`
			}
			_ = json.Unmarshal(b, &in)
			n := 1
			if a, ok := in.Input.([]any); ok {
				n = len(a)
			}
			var data []string
			for i := 0; i < n; i++ {
				if in.EncodingFormat == "base64" {
					// 0.5, -0.25, 1 as little-endian float32s.
					data = append(data, fmt.Sprintf(`{"object":"embedding","index":%d,"embedding":"AAAAPwAAgL4AAIA/"}`, i))
				} else {
					data = append(data, fmt.Sprintf(`{"object":"embedding","index":%d,"embedding":[0.5,-0.25,1]}`, i))
				}
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"object":"list","data":[%s],"model":"text-embedding-test","usage":{"prompt_tokens":%d,"total_tokens":%d}}`, strings.Join(data, ","), 4*n, 4*n)
		default: // chat completions
			if req.Stream {
				w.Header().Set("Content-Type", "text/event-stream")
				for _, c := range []string{`{"role":"assistant","content":""}`, `{"content":"Hello"}`, `{"content":" there"}`} {
					fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-test-2026\",\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":null}]}\n\n", c)
				}
				io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-test-2026\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
				io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-test-2026\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":2,\"total_tokens\":12}}\n\n")
				io.WriteString(w, "data: [DONE]\n\n")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			if len(req.Tools) > 0 && len(req.Messages) > 0 && req.Messages[len(req.Messages)-1].Role != "tool" {
				// With tools, a call to the first; after its result, text.
				io.WriteString(w, `{"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"gpt-test-2026","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":30,"completion_tokens":9,"total_tokens":39}}`)
				return
			}
			io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-test-2026","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":4}}}`)
		}
	})
}
