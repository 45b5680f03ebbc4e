// Package cryptorand exercises the cryptorand rule.
package cryptorand

import "crypto/rand" // want `^import "crypto/rand": randomness comes from env.Rand\(\) \[cryptorand\]$`

var reader = rand.Reader // want `^rand.Reader reads the machine's randomness; randomness comes from env.Rand\(\) \[cryptorand\]$`

func read(b []byte) {
	rand.Read(b) // want `rand.Read`
}
