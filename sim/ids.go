package sim

import (
	"encoding/base64"
	"math/rand/v2"

	"github.com/google/uuid"
)

// appendUUIDv4 appends a random (version 4) UUID in canonical lowercase
// hyphenated form. It uses the runtime's per-thread ChaCha8 generator, which
// is fast enough for one id per streamed event.
func appendUUIDv4(dst []byte) []byte {
	var b [16]byte
	hi, lo := rand.Uint64(), rand.Uint64()
	for i := range 8 {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return appendUUIDBytes(dst, b)
}

func appendUUIDBytes(dst []byte, b [16]byte) []byte {
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[x>>4], hexDigits[x&0xF])
	}
	return dst
}

// newUUIDv4 returns a random UUID string.
func newUUIDv4() string { return string(appendUUIDv4(make([]byte, 0, 36))) }

// newSessionID returns a time-ordered UUIDv7 (lowercase), falling back to a
// v4 id if the v7 generator fails.
func newSessionID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return newUUIDv4()
	}
	return id.String()
}

// isUUID reports whether s is a canonical lowercase hyphenated UUID.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// memberRef encodes the opaque member handle the way the runtime does:
// base64url (no padding) of {"m":mob_id,"a":agent_identity}.
func memberRef(mobID, identity string) string {
	raw := mustMarshal(struct {
		M string `json:"m"`
		A string `json:"a"`
	}{mobID, identity})
	return base64.RawURLEncoding.EncodeToString(raw)
}
