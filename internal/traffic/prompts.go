// Package traffic sends synthetic, realistic traffic through a running
// gateway: prompts over the simulated topics, and feedback drawn from the
// simulated ground truth, so that traces reach Jaeger by the real path (the
// OpenAI API, the gateway's spans, the feedback API) and the export can be
// checked against labels whose truth is known.
package traffic

import (
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/switchyard-ai/switchyard/internal/provider"
)

// template slots are {a}, {b}, ...; each template of a topic draws its words
// from that topic's pools, so a generated prompt always classifies (with
// provider.SimTopic) as the topic it was made for. The tests check that.
type topicTemplates struct {
	templates []string
	slots     map[string][]string
}

var templates = map[string]topicTemplates{
	provider.TopicCode: {
		templates: []string{
			"Write a {lang} function that {task}.",
			"Why does my {lang} code throw an exception when I {task}? Please debug it.",
			"Refactor this {lang} class so that it can {task} without a global variable.",
			"Implement a {lang} method to {task} and add a unit test for the function.",
			"Explain the bug in this {lang} loop that tries to {task}.",
		},
		slots: map[string][]string{
			"lang": {"Python", "Go", "Rust", "JavaScript", "TypeScript", "Java", "SQL"},
			"task": {"parses a JSON config", "reverses a linked list", "retries an HTTP call with backoff",
				"deduplicates records by key", "streams lines from a large file", "validates an email with a regex",
				"merges two sorted arrays", "counts word frequencies"},
		},
	},
	provider.TopicMath: {
		templates: []string{
			"Solve the equation {eq} and show each step.",
			"Calculate the probability that {event}.",
			"Prove that {claim}.",
			"What is the derivative of {fn}? Compute it step by step.",
			"Compute the integral of {fn} from 0 to {n}.",
		},
		slots: map[string][]string{
			"eq":    {"3x + 7 = 22", "x^2 - 5x + 6 = 0", "2^x = 64", "log(x) = 3", "5x - 2 = 3x + 10"},
			"event": {"two dice sum to 7", "a card drawn is an ace", "three coin flips give two heads", "a random number below 100 is prime"},
			"claim": {"the square root of 2 is irrational", "there are infinitely many prime numbers", "the sum of two even numbers is even"},
			"fn":    {"x^3 + 2x", "sin(x) * x", "e^(2x)", "1/(1+x^2)", "ln(x) + x^2"},
			"n":     {"1", "2", "3", "10"},
		},
	},
	provider.TopicScience: {
		templates: []string{
			"Explain how {topic} works in simple terms, as in a physics or biology class.",
			"What is the role of {thing} in {topic}? Answer like a science teacher.",
			"Describe an experiment that tests a hypothesis about {topic}.",
			"How does {thing} affect the energy balance of a cell or a planet?",
		},
		slots: map[string][]string{
			"topic": {"photosynthesis", "gravity", "evolution", "quantum tunnelling", "climate change", "protein folding", "a chemical reaction"},
			"thing": {"the electron", "DNA", "a molecule of water", "sunlight", "a catalyst", "the atmosphere"},
		},
	},
	provider.TopicWriting: {
		templates: []string{
			"Write a short poem about {subject}.",
			"Rewrite this paragraph in a {tone} tone: the meeting about {subject} moved to Friday.",
			"Draft an email to a colleague about {subject}.",
			"Write a blog headline and a summary for a story on {subject}.",
			"Proofread and edit my essay introduction on {subject}.",
		},
		slots: map[string][]string{
			"subject": {"autumn in the city", "a new coffee shop", "remote teams", "the first day at school", "a lost umbrella", "the harbour at dawn"},
			"tone":    {"friendly", "formal", "playful", "concise"},
		},
	},
	provider.TopicChat: {
		templates: []string{
			"Hi! What are some good {thing} for a rainy weekend?",
			"Can you recommend {thing} for someone who likes {like}?",
			"Tell me something fun about {like}.",
			"I'm bored. Any ideas for {thing}?",
		},
		slots: map[string][]string{
			"thing": {"board games", "films", "podcasts", "day trips", "hobbies", "recipes"},
			"like":  {"hiking", "jazz", "old trains", "gardening", "the sea", "cats"},
		},
	},
}

// Prompt makes one prompt of topic from its templates with rng.
func Prompt(rng *rand.Rand, topic string) string {
	tt, ok := templates[topic]
	if !ok {
		tt = templates[provider.TopicChat]
	}
	s := tt.templates[rng.IntN(len(tt.templates))]
	// Slots are filled in name order so a seed always gives the same prompt.
	names := make([]string, 0, len(tt.slots))
	for name := range tt.slots {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		pool := tt.slots[name]
		s = strings.ReplaceAll(s, "{"+name+"}", pool[rng.IntN(len(pool))])
	}
	return s
}
