package loadtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// chunk is the part of a chat.completion.chunk the tests check.
type chunk struct {
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// readEvents splits an SSE body into its data payloads.
func readEvents(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, p)
		} else if sc.Text() != "" {
			t.Errorf("unexpected line %q", sc.Text())
		}
	}
	return out
}

func TestUpstreamStream(t *testing.T) {
	up, err := StartUpstream(Behavior{Chunks: 5, ContentBytes: 103})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	for _, tc := range []struct {
		name      string
		body      string
		wantUsage bool
	}{
		{"with usage", `{"model":"m-1","stream":true,"stream_options":{"include_usage":true},"messages":[]}`, true},
		{"without usage", `{"model":"m-1","stream":true,"messages":[]}`, false},
		{"usage off", `{"model":"m-1","stream":true,"stream_options":{"include_usage":false},"messages":[]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, up.URL(), tc.body)
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
				t.Fatalf("status %d, content type %q", resp.StatusCode, ct)
			}
			events := readEvents(t, resp.Body)
			want := 5 + 1 + 1 // content, finish, [DONE]
			if tc.wantUsage {
				want++
			}
			if len(events) != want || events[len(events)-1] != "[DONE]" {
				t.Fatalf("%d events ending %q, want %d ending [DONE]", len(events), events[len(events)-1], want)
			}
			var content strings.Builder
			var finish string
			usage := false
			for i, e := range events[:len(events)-1] {
				var c chunk
				if err := json.Unmarshal([]byte(e), &c); err != nil {
					t.Fatalf("event %d: %v: %s", i, err, e)
				}
				if c.Object != "chat.completion.chunk" || c.Model != "m-1" {
					t.Errorf("event %d: object %q model %q", i, c.Object, c.Model)
				}
				if i == 0 && (len(c.Choices) != 1 || c.Choices[0].Delta.Role != "assistant" || c.Choices[0].Delta.Content == "") {
					t.Errorf("first event carries no role and content: %s", e)
				}
				if c.Usage != nil {
					usage = true
					if len(c.Choices) != 0 || c.Usage.TotalTokens != c.Usage.PromptTokens+c.Usage.CompletionTokens || c.Usage.CompletionTokens == 0 {
						t.Errorf("usage event: %s", e)
					}
					continue
				}
				content.WriteString(c.Choices[0].Delta.Content)
				if fr := c.Choices[0].FinishReason; fr != nil {
					finish = *fr
				}
			}
			if content.Len() != 103 || finish != "stop" || usage != tc.wantUsage {
				t.Errorf("content %d bytes, finish %q, usage %v; want 103, stop, %v", content.Len(), finish, usage, tc.wantUsage)
			}
		})
	}
}

func TestUpstreamWhole(t *testing.T) {
	up, err := StartUpstream(Behavior{ContentBytes: 2000, Delay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	start := time.Now()
	resp := post(t, up.URL(), `{"model":"gpt-\"quoted\"","messages":[{"role":"user","content":"hi"}]}`)
	defer resp.Body.Close()
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Errorf("answered in %s, before the 20ms delay", el)
	}
	var got struct {
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Message struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Object != "chat.completion" || got.Model != `gpt-"quoted"` || len(got.Choices) != 1 ||
		len(got.Choices[0].Message.Content) != 2000 || got.Choices[0].FinishReason != "stop" ||
		got.Usage.TotalTokens == 0 {
		t.Errorf("answer: %+v", got)
	}
	if up.Requests() != 1 {
		t.Errorf("Requests() = %d, want 1", up.Requests())
	}
}

func TestUpstreamErrorsAndModels(t *testing.T) {
	up, err := StartUpstream(Behavior{})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"bad JSON", "POST", "/v1/chat/completions", `{`, 400},
		{"no model", "POST", "/v1/chat/completions", `{"messages":[]}`, 400},
		{"unknown path", "POST", "/v1/embeddings", `{}`, 404},
		{"models", "GET", "/v1/models", ``, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, up.URL()+tc.path, strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || !json.Valid(b) {
				t.Errorf("status %d body %s, want %d and JSON", resp.StatusCode, b, tc.want)
			}
		})
	}
}

func TestUpstreamHold(t *testing.T) {
	up, err := StartUpstream(Behavior{Chunks: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	hold := make(chan struct{})
	up.SetBehavior(Behavior{Chunks: 3, Hold: hold})
	resp := post(t, up.URL(), `{"model":"m","stream":true}`)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "data: {") {
		t.Fatalf("first line %q, %v", first, err)
	}
	rest := make(chan []byte)
	go func() { b, _ := io.ReadAll(br); rest <- b }()
	select {
	case b := <-rest:
		t.Fatalf("stream ended while held: %q", b)
	case <-time.After(100 * time.Millisecond): // a grace period to catch a hold that leaks; it never fails a correct mock
	}
	close(hold)
	select {
	case b := <-rest:
		if !bytes.HasSuffix(b, []byte("data: [DONE]\n\n")) {
			t.Errorf("after release: %q", b)
		}
	case <-time.After(patience):
		t.Fatal("stream still held after release")
	}
}
