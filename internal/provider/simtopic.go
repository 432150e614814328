package provider

import (
	"strings"
	"unicode"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/openai"
)

// The simulated topics. A SimProfile gives a quality per topic, and "default"
// for topics it does not name.
const (
	TopicCode    = "code"
	TopicMath    = "math"
	TopicScience = "science"
	TopicWriting = "writing"
	TopicChat    = "chat"
)

// SimTopics lists the topics SimTopic returns, in its tie-break order.
var SimTopics = []string{TopicCode, TopicMath, TopicScience, TopicWriting, TopicChat}

// simKeywords maps each keyword to its topic. A prompt's words are lower-cased
// and split on anything that is not a letter or digit before matching, so
// "Python's" counts as "python" and "s".
var simKeywords = func() map[string]string {
	m := map[string]string{}
	add := func(topic string, words ...string) {
		for _, w := range words {
			m[w] = topic
		}
	}
	add(TopicCode, "code", "coding", "function", "func", "def", "class", "method", "bug", "debug",
		"compile", "compiler", "program", "programming", "script", "python", "golang",
		"javascript", "typescript", "java", "rust", "sql", "regex", "api", "json", "refactor",
		"implement", "variable", "loop", "recursion", "exception", "stacktrace")
	add(TopicMath, "math", "maths", "mathematics", "equation", "solve", "integral", "derivative",
		"calculate", "compute", "sum", "product", "probability", "algebra", "geometry", "theorem",
		"prove", "proof", "matrix", "fraction", "percent", "percentage", "arithmetic", "prime",
		"divisible", "multiply", "divide", "square", "root", "logarithm")
	add(TopicScience, "science", "physics", "chemistry", "biology", "atom", "atoms", "molecule",
		"molecules", "cell", "cells", "energy", "gravity", "quantum", "evolution", "climate",
		"planet", "planets", "dna", "protein", "experiment", "hypothesis", "reaction", "photosynthesis",
		"electron", "species")
	add(TopicWriting, "write", "writing", "essay", "poem", "poetry", "story", "email", "letter",
		"rewrite", "summarize", "summary", "paragraph", "tone", "blog", "draft", "edit", "proofread",
		"headline", "slogan", "haiku")
	return m
}()

// SimTopic classifies a prompt into one of SimTopics by counting keyword
// hits (see simKeywords): the topic with the most hits wins, ties go to the
// earlier topic in SimTopics, and a prompt with no hit is "chat". It is
// deliberately simple and deterministic, so data generators, evaluations and
// the simulated provider agree on every prompt's ground-truth topic.
func SimTopic(prompt string) string {
	var hits [4]int
	for _, w := range strings.FieldsFunc(strings.ToLower(prompt), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		switch simKeywords[w] {
		case TopicCode:
			hits[0]++
		case TopicMath:
			hits[1]++
		case TopicScience:
			hits[2]++
		case TopicWriting:
			hits[3]++
		}
	}
	best := -1
	for i, h := range hits {
		if h > 0 && (best < 0 || h > hits[best]) {
			best = i
		}
	}
	if best < 0 {
		return TopicChat
	}
	return SimTopics[best]
}

// DefaultSimQuality is a topic's quality when a profile names neither the
// topic nor "default".
const DefaultSimQuality = 0.5

// SimQuality is how well a simulated model answers a topic, in [0, 1]: the
// profile's value for the topic, else its "default", else DefaultSimQuality.
func SimQuality(p *config.SimProfile, topic string) float64 {
	if p == nil {
		return 0
	}
	q, ok := p.Quality[topic]
	if !ok {
		if q, ok = p.Quality["default"]; !ok {
			q = DefaultSimQuality
		}
	}
	return min(max(q, 0), 1)
}

// SimPromptText is the text a simulated model classifies: the last user
// message, which carries the request's intent in a conversation.
func SimPromptText(req *openai.ChatRequest) string {
	if req == nil {
		return ""
	}
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			return req.Messages[i].Text()
		}
	}
	return ""
}
