package provider

import (
	"encoding/json"
	"syscall"
)

var errConnRefused = syscall.ECONNREFUSED

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
