package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	oa "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// TestOfficialOpenAIClient drives the gateway with the official OpenAI Go SDK,
// plain and streaming, as a real client would.
func TestOfficialOpenAIClient(t *testing.T) {
	var chunks []string
	for i := 0; i < 5; i++ {
		chunks = append(chunks, chunk(i, fmt.Sprintf("w%d ", i)))
	}
	streamUp := sseUpstream(append(chunks, usageChunk), nil)
	plainUp := okChat("a-upstream", "hello from upstream")
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(readAndRestore(r), `"stream":true`) {
			streamUp(w, r)
			return
		}
		plainUp(w, r)
	})
	g := newTestGateway(t, oneRoute("", dep("a", up.URL)))
	client := oa.NewClient(option.WithBaseURL(g.srv.URL+"/v1"), option.WithAPIKey(testKey), option.WithMaxRetries(0))
	ctx := context.Background()

	comp, err := client.Chat.Completions.New(ctx, oa.ChatCompletionNewParams{
		Model:    "auto",
		Messages: []oa.ChatCompletionMessageParamUnion{oa.UserMessage("hi")},
	})
	if err != nil {
		t.Fatalf("plain: %v", err)
	}
	if comp.Choices[0].Message.Content != "hello from upstream" || comp.Usage.CompletionTokens != 20 {
		t.Errorf("plain completion: %+v", comp)
	}

	stream := client.Chat.Completions.NewStreaming(ctx, oa.ChatCompletionNewParams{
		Model:         "auto",
		Messages:      []oa.ChatCompletionMessageParamUnion{oa.UserMessage("hi")},
		StreamOptions: oa.ChatCompletionStreamOptionsParam{IncludeUsage: oa.Bool(true)},
	})
	acc := oa.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if got := acc.Choices[0].Message.Content; got != "w0 w1 w2 w3 w4 " {
		t.Errorf("streamed content %q", got)
	}
	if acc.Usage.CompletionTokens != 3 {
		t.Errorf("stream usage %+v", acc.Usage)
	}

	// Errors surface as the SDK's typed API error with the gateway's status.
	_, err = client.Chat.Completions.New(ctx, oa.ChatCompletionNewParams{
		Model:    "no-such-route",
		Messages: []oa.ChatCompletionMessageParamUnion{oa.UserMessage("hi")},
	})
	var apiErr *oa.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("unknown model through the SDK: %v", err)
	}

	models, err := client.Models.List(ctx)
	if err != nil || len(models.Data) == 0 || models.Data[0].ID != "auto" {
		t.Errorf("models: %v %+v", err, models)
	}
}

// readAndRestore reads a request body and puts it back for the next reader.
func readAndRestore(r *http.Request) string {
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	return string(b)
}
