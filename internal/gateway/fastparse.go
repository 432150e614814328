package gateway

import (
	"math"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/internal/jsonvalid"
	"github.com/switchyard-ai/switchyard/internal/openai"
)

// fastChat decodes the common shape of a chat request in two passes over the
// body (gjson's validation, then its members) with no reflection, and with
// strings and raw fields pointing into body instead of copied. It gives up
// (ok false) on anything where encoding/json's result or error message
// could differ: invalid JSON or UTF-8, a value of an unexpected type, a key
// that only matches a field case-insensitively, escaped keys. parseChat then
// decodes the slow way, which also words the error. A differential fuzz test
// holds the two to the same result wherever the fast path answers.
//
// Decoding the request was the largest part of the gateway's own parsing
// work under load (about 12 us of ~250 per request with goccy/go-json, on
// the benchmark machine).
//
// body must not change while the request is in use (it does not: providers
// copy it before editing).
func fastChat(body []byte) (req *openai.ChatRequest, ok bool) {
	if len(body) == 0 || !jsonvalid.Valid(body) {
		return nil, false
	}
	doc := gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body)))
	if !doc.IsObject() {
		return nil, false
	}
	req = &openai.ChatRequest{}
	ok = eachField(doc, chatKeys, func(k string, v gjson.Result) bool {
		switch k {
		case "model":
			return setString(&req.Model, v)
		case "user":
			return setString(&req.User, v)
		case "stream":
			return setBool(&req.Stream, v)
		case "stream_options":
			return setStreamOptions(req, v)
		case "max_tokens":
			return setIntPtr(&req.MaxTokens, v)
		case "max_completion_tokens":
			return setIntPtr(&req.MaxCompletionTokens, v)
		case "temperature":
			return setFloatPtr(&req.Temperature, v)
		case "top_p":
			return setFloatPtr(&req.TopP, v)
		case "stop":
			req.Stop = raw(body, v)
		case "tools":
			req.Tools = raw(body, v)
		case "tool_choice":
			req.ToolChoice = raw(body, v)
		case "response_format":
			req.ResponseFormat = raw(body, v)
		case "messages":
			return setMessages(req, body, v)
		}
		return true
	})
	if !ok {
		return nil, false
	}
	return req, true
}

var (
	chatKeys         = []string{"model", "user", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "tools", "tool_choice", "response_format", "messages"}
	messageKeys      = []string{"role", "content", "name", "tool_calls", "tool_call_id"}
	streamOptionKeys = []string{"include_usage"}
)

// eachField calls set for every member of obj whose key is one of keys, and
// gives up (false) when set does, on an escaped key, or on a key that only
// case-folds to one of keys (encoding/json would match it).
func eachField(obj gjson.Result, keys []string, set func(key string, v gjson.Result) bool) bool {
	ok := true
	obj.ForEach(func(k, v gjson.Result) bool {
		switch {
		case !plainKey(k):
			ok = false
		case slices.Contains(keys, k.Str):
			ok = set(k.Str, v)
		default:
			ok = !foldsTo(k.Str, keys)
		}
		return ok
	})
	return ok
}

// plainKey: a key written without escapes, as every client writes them.
func plainKey(k gjson.Result) bool { return len(k.Raw) == len(k.Str)+2 }

// foldsTo reports whether an unknown key would still match a field under
// encoding/json's case-insensitive matching.
func foldsTo(key string, fields []string) bool {
	for _, f := range fields {
		if strings.EqualFold(key, f) {
			return true
		}
	}
	return false
}

func setString(dst *string, v gjson.Result) bool {
	switch v.Type {
	case gjson.String:
		if !utf8.ValidString(v.Str) || strings.Contains(v.Raw, `\u`) {
			// encoding/json replaces invalid bytes and lone surrogates;
			// leave those to it.
			return false
		}
		*dst = v.Str
		return true
	case gjson.Null:
		return true
	}
	return false
}

func setIntPtr(dst **int, v gjson.Result) bool {
	switch v.Type {
	case gjson.Null:
		*dst = nil
		return true
	case gjson.Number:
		// Only plain integers: "64.0", "1e3" or out-of-range numbers are
		// errors or conversions encoding/json words itself.
		for i := 0; i < len(v.Raw); i++ {
			if c := v.Raw[i]; (c < '0' || c > '9') && !(i == 0 && c == '-') {
				return false
			}
		}
		if len(v.Raw) > 15 {
			return false
		}
		n := int(v.Int())
		*dst = &n
		return true
	}
	return false
}

func setFloatPtr(dst **float64, v gjson.Result) bool {
	switch v.Type {
	case gjson.Null:
		*dst = nil
		return true
	case gjson.Number:
		f := v.Num
		if math.IsInf(f, 0) {
			return false // out of range: encoding/json's error
		}
		*dst = &f
		return true
	}
	return false
}

func setStreamOptions(req *openai.ChatRequest, v gjson.Result) bool {
	switch v.Type {
	case gjson.Null:
		req.StreamOptions = nil
		return true
	case gjson.JSON:
		if !v.IsObject() {
			return false
		}
	default:
		return false
	}
	if req.StreamOptions == nil {
		req.StreamOptions = &openai.StreamOptions{}
	}
	return eachField(v, streamOptionKeys, func(_ string, x gjson.Result) bool {
		return setBool(&req.StreamOptions.IncludeUsage, x)
	})
}

func setBool(dst *bool, v gjson.Result) bool {
	switch v.Type {
	case gjson.True, gjson.False:
		*dst = v.Bool()
		return true
	case gjson.Null:
		return true
	}
	return false
}

func setMessages(req *openai.ChatRequest, body []byte, v gjson.Result) bool {
	switch v.Type {
	case gjson.Null:
		req.Messages = nil
		return true
	case gjson.JSON:
		if !v.IsArray() {
			return false
		}
	default:
		return false
	}
	msgs := make([]openai.Message, 0, 4)
	ok := true
	v.ForEach(func(_, m gjson.Result) bool {
		if !m.IsObject() {
			ok = false
			return false
		}
		var msg openai.Message
		ok = eachField(m, messageKeys, func(k string, x gjson.Result) bool {
			switch k {
			case "role":
				return setString(&msg.Role, x)
			case "name":
				return setString(&msg.Name, x)
			case "tool_call_id":
				return setString(&msg.ToolCallID, x)
			case "content":
				msg.Content = raw(body, x)
			case "tool_calls":
				msg.ToolCalls = raw(body, x)
			}
			return true
		})
		msgs = append(msgs, msg)
		return ok
	})
	req.Messages = msgs
	return ok
}

// raw is v's JSON text as a slice of body (gjson's Index is its offset).
func raw(body []byte, v gjson.Result) []byte {
	if v.Index > 0 && v.Index+len(v.Raw) <= len(body) {
		return body[v.Index : v.Index+len(v.Raw) : v.Index+len(v.Raw)]
	}
	return []byte(v.Raw)
}
