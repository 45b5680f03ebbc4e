package api

import (
	"encoding/base64"
	"errors"
	"strconv"
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

// maxDecimalWidth bounds the digits of a decimal either side of its
// point, as core/model bounds the decimals it stores.
const maxDecimalWidth = 1000

// splitDecimal splits a decimal literal,
// [+-]?[0-9]*(\.[0-9]*)?([eE][+-]?[0-9]+)?, into its sign, integer digits,
// fraction digits and exponent; ok is false when s is not one.
func splitDecimal(s string) (sign, whole, frac, exp string, ok bool) {
	digits := func(s string) (string, string) {
		i := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return s[:i], s[i:]
	}
	rest := s
	if rest != "" && (rest[0] == '+' || rest[0] == '-') {
		sign, rest = rest[:1], rest[1:]
	}
	whole, rest = digits(rest)
	if rest != "" && rest[0] == '.' {
		frac, rest = digits(rest[1:])
	}
	if rest != "" && (rest[0] == 'e' || rest[0] == 'E') {
		e := rest[1:]
		esign := ""
		if e != "" && (e[0] == '+' || e[0] == '-') {
			esign, e = e[:1], e[1:]
		}
		var ed string
		ed, rest = digits(e)
		if ed == "" {
			return "", "", "", "", false
		}
		exp = esign + ed
	}
	return sign, whole, frac, exp, rest == "" && whole+frac != ""
}

var errDecimalRange = errors.New("out of the decimal range")

// canonicalDecimal writes a decimal literal as core/model stores decimals:
// without exponent, leading zeros or trailing fractional zeros ("1.50e2"
// is "150", "-0.0" is "0"), at most maxDecimalWidth digits either side
// of the point. Canonical decimals compare with cmpDecimal.
func canonicalDecimal(s string) (string, error) {
	sign, whole, frac, e, ok := splitDecimal(s)
	if !ok {
		return "", errors.New("not a decimal")
	}
	digits := whole + frac
	exp := -len(frac)
	if e != "" {
		n, err := strconv.Atoi(e)
		if err != nil || n > 10*maxDecimalWidth || n < -10*maxDecimalWidth {
			return "", errDecimalRange
		}
		exp += n
	}
	digits = strings.TrimLeft(digits, "0")
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	if digits == "" {
		return "0", nil
	}
	var out string
	point := len(digits) + exp // digits before the point
	switch {
	case point > maxDecimalWidth || -exp > maxDecimalWidth:
		return "", errDecimalRange
	case exp >= 0:
		out = digits + strings.Repeat("0", exp)
	case point <= 0:
		out = "0." + strings.Repeat("0", -point) + digits
	default:
		out = digits[:point] + "." + digits[point:]
	}
	if sign == "-" {
		out = "-" + out
	}
	return out, nil
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
