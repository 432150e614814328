package gateway

import (
	"strconv"
	"testing"
)

// TestArmMemoryKeepsTheLastN: the memory starts empty, holds up to n
// requests, and forgets the oldest first.
func TestArmMemoryKeepsTheLastN(t *testing.T) {
	a := newArmMemory(3)
	if _, ok := a.get("r0"); ok {
		t.Fatal("empty memory found a request")
	}
	for i := range 5 {
		a.put("r"+strconv.Itoa(i), armRef{"exp", "arm" + strconv.Itoa(i)})
	}
	for i := range 5 {
		ref, ok := a.get("r" + strconv.Itoa(i))
		if want := i >= 2; ok != want {
			t.Errorf("r%d remembered = %v, want %v", i, ok, want)
		}
		if ok && ref.arm != "arm"+strconv.Itoa(i) {
			t.Errorf("r%d arm = %q", i, ref.arm)
		}
	}
	if len(a.m) != 3 || len(a.ring) != 3 {
		t.Errorf("holds %d entries in a ring of %d, want 3 and 3", len(a.m), len(a.ring))
	}
}
