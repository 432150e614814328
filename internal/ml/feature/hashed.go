package feature

// NewHashedTF returns a tf-idf featurizer with every idf at 1: sublinear,
// L2-normalised hashed term frequencies. The gateway records it on traces
// when prompt capture is "features", so a trace holds the prompt's hashed
// n-grams (same hashing and n-gram settings as a tf-idf bundle with this
// config) but never its text. A featurizer fitted later can re-weight these
// vectors, since idf is a per-bucket factor.
func NewHashedTF(cfg Config) (*TFIDF, error) {
	t, err := newTFIDF(cfg)
	if err != nil {
		return nil, err
	}
	t.nDocs = 1
	t.df = make([]uint32, t.dim)
	t.idf = make([]float32, t.dim)
	for i := range t.idf {
		t.df[i], t.idf[i] = 1, 1
	}
	return t, nil
}
