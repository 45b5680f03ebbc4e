package api

import (
	"encoding/base64"
	"strings"

	"github.com/shoaldb/shoal/core/yamlcheck"
)

// quote quotes a value from the input for a message, cut short when long.
func quote(s string) string { return yamlcheck.Quote(s) }

// canonicalBytes is standard base64 text as core/model stores bytes.
func canonicalBytes(s string) (string, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// cmpDecimal compares two canonical decimals by the numbers they name.
func cmpDecimal(a, b string) int {
	an, bn := strings.HasPrefix(a, "-"), strings.HasPrefix(b, "-")
	switch {
	case an && !bn:
		return -1
	case !an && bn:
		return 1
	case an:
		return -cmpMagnitude(a[1:], b[1:])
	}
	return cmpMagnitude(a, b)
}

// cmpMagnitude compares two canonical decimals without sign: integer
// parts have no leading zeros (but "0"), so the longer is the greater;
// fractions have no trailing zeros, so they compare as text.
func cmpMagnitude(a, b string) int {
	ai, af, _ := strings.Cut(a, ".")
	bi, bf, _ := strings.Cut(b, ".")
	if len(ai) != len(bi) {
		return cmpOrdered(int64(len(ai)), int64(len(bi)))
	}
	if c := strings.Compare(ai, bi); c != 0 {
		return c
	}
	return strings.Compare(af, bf)
}
