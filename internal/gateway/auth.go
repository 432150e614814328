package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/internal/config"
)

// keyring checks presented keys in constant time. Keys are compared as
// SHA-256 digests so neither the content nor the length of a secret leaks
// through timing, and every key is compared so the position does not either.
type keyring struct {
	ids     []string
	digests [][32]byte
}

func newKeyring(keys []config.Key) *keyring {
	k := &keyring{}
	for _, key := range keys {
		k.ids = append(k.ids, key.ID)
		k.digests = append(k.digests, sha256.Sum256([]byte(key.Secret())))
	}
	return k
}

// match returns the id of the key presented, or "" when none matches.
func (k *keyring) match(presented string) string {
	if presented == "" {
		return ""
	}
	d := sha256.Sum256([]byte(presented))
	found := -1
	for i := range k.digests {
		if subtle.ConstantTimeCompare(d[:], k.digests[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return ""
	}
	return k.ids[found]
}

// presentedKey reads the key from "Authorization: Bearer", "x-api-key" or
// "api-key" (the headers OpenAI, Anthropic and Azure clients send).
func presentedKey(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			return strings.TrimSpace(a[7:])
		}
		return ""
	}
	if k := r.Header.Get("x-api-key"); k != "" {
		return k
	}
	return r.Header.Get("api-key")
}
