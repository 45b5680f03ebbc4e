// Package rand exercises the rand rule.
package rand

import (
	"math/rand"
	randv2 "math/rand/v2"
)

func draw() {
	_ = rand.Intn(10)     // want `^rand.Intn draws from the global random source; use env.Rand\(\) \[rand\]$`
	rand.Shuffle(2, nil)  // want `rand.Shuffle`
	_ = randv2.IntN(10)   // want `rand.IntN`
	_ = randv2.N[int](10) // want `rand.N`
	perm := randv2.Perm   // want `rand.Perm`
	_ = randv2.Int()      //detlint:allow rand picks a fixture name nobody compares
	_ = perm

	old := rand.New(rand.NewSource(1))
	_ = old.Intn(3)
	_ = rand.NewZipf(old, 1.5, 1, 10)
	r := randv2.New(randv2.NewPCG(1, 2))
	_ = r.IntN(10)
	_ = randv2.NewChaCha8([32]byte{})
	_ = randv2.NewZipf(r, 1.5, 1, 10)
}
