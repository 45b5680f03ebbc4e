package simnet

import _ "crypto/rand" //detlint:allow cryptorand the world swaps Reader for a seeded stream
