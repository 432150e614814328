package feature

// SparseLayer is a model's first stage over sparse input, exposed so a
// router can lay it out beside its other per-feature weights: for input x,
// the stage's output is Bias plus, for each nonzero of x in index order
// whose feature is Cols[c], x's value times row c of W (Width float32s,
// accumulated in float32). Every field aliases the model: read only.
type SparseLayer struct {
	Cols  []uint32 // feature index of each row, ascending
	Width int
	W     []float32 // len(Cols) x Width, row-major
	Bias  []float32 // Width
}
