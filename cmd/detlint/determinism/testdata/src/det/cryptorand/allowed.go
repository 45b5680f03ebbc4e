package cryptorand

import crand "crypto/rand" //detlint:allow cryptorand the simulator swaps Reader for a seeded stream

var seeded = crand.Reader //detlint:allow cryptorand saved to restore when the world closes
