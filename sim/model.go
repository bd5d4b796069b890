package sim

import (
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// The scripted model: deterministic replies for a few known prompts, and a
// deterministic sentence about the prompt otherwise.

var capitals = map[string]string{
	"france": "Paris", "germany": "Berlin", "italy": "Rome", "spain": "Madrid",
	"japan": "Tokyo", "portugal": "Lisbon", "canada": "Ottawa", "australia": "Canberra",
	"united kingdom": "London", "uk": "London", "netherlands": "Amsterdam", "poland": "Warsaw",
	"sweden": "Stockholm", "norway": "Oslo", "egypt": "Cairo", "brazil": "Brasília",
}

var countryNames = map[string]string{"uk": "the United Kingdom", "united kingdom": "the United Kingdom", "netherlands": "the Netherlands"}

var (
	reArith    = regexp.MustCompile(`(-?\d+(?:\.\d+)?)\s*([-+*/×x])\s*(-?\d+(?:\.\d+)?)`)
	reCapital  = regexp.MustCompile(`capital of ([a-z][a-z ]*[a-z])`)
	reWhatAbt  = regexp.MustCompile(`^(?:(?:what|how) about|and(?: of| for| in)?) ([a-z][a-z ]*[a-z])`)
	reThatRes  = regexp.MustCompile(`(?i)\b(divide|multiply|add|subtract)\b.*\b(?:that|the) (?:result|answer|number)\b.*?(-?\d+(?:\.\d+)?)`)
	reNumber   = regexp.MustCompile(`-?\d+(?:\.\d+)?`)
	reMyName   = regexp.MustCompile(`(?i)\bmy name is ([\p{L}][\p{L}'-]*)`)
	reCountTo  = regexp.MustCompile(`count to (\d+)`)
	reWordTrim = strings.NewReplacer("?", "", "!", "", ".", "", ",", "")
)

// modelReply returns the scripted model's answer to prompt given the session
// transcript so far (which does not include prompt).
func modelReply(prompt string, hist []historyEntry) string {
	p := strings.TrimSpace(prompt)
	lower := strings.ToLower(p)
	if p == "" {
		return "OK."
	}
	if rest, ok := strings.CutPrefix(p, "echo:"); ok {
		return strings.TrimSpace(rest)
	}
	if m := reCapital.FindStringSubmatch(reWordTrim.Replace(lower)); m != nil {
		if r, ok := capitalReply(m[1]); ok {
			return r
		}
	}
	if m := reWhatAbt.FindStringSubmatch(reWordTrim.Replace(lower)); m != nil {
		if r, ok := capitalReply(m[1]); ok && asksAboutCapitals(hist) {
			return r
		}
	}
	if m := reThatRes.FindStringSubmatch(p); m != nil {
		if r, ok := followUpArithmetic(strings.ToLower(m[1]), m[2], hist); ok {
			return r
		}
	}
	if m := reArith.FindStringSubmatch(p); m != nil {
		if r, ok := arithmetic(m[1], m[2], m[3]); ok {
			return fmt.Sprintf("%s %s %s = %s.", m[1], m[2], m[3], r)
		}
	}
	if m := reCountTo.FindStringSubmatch(lower); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 && n <= 10000 {
			nums := make([]string, n)
			for i := range nums {
				nums[i] = strconv.Itoa(i + 1)
			}
			return strings.Join(nums, " ")
		}
	}
	if m := reMyName.FindStringSubmatch(p); m != nil {
		return fmt.Sprintf("Nice to meet you, %s. I will remember your name.", m[1])
	}
	if strings.Contains(lower, "what is my name") || strings.Contains(lower, "what's my name") {
		for i := len(hist) - 1; i >= 0; i-- {
			if hist[i].role == "user" {
				if m := reMyName.FindStringSubmatch(hist[i].text); m != nil {
					return fmt.Sprintf("Your name is %s.", m[1])
				}
			}
		}
		return "You have not told me your name yet."
	}
	if strings.Contains(lower, "what did i") && (strings.Contains(lower, "ask") || strings.Contains(lower, "say")) {
		for i := len(hist) - 1; i >= 0; i-- {
			if hist[i].role == "user" && hist[i].text != "" {
				return fmt.Sprintf("Earlier you said: %q.", hist[i].text)
			}
		}
		return "This is the first thing you have said in this session."
	}
	switch reWordTrim.Replace(lower) {
	case "hello", "hi", "hey", "hello there":
		return "Hello! I am rkat-sim, a simulated Meerkat runtime. How can I help?"
	case "ping":
		return "pong"
	}
	return fmt.Sprintf("You said: %q. This deterministic reply comes from rkat-sim, the simulated Meerkat runtime; your message has %d words.",
		truncate(p, 200), wordCount(p))
}

// followUpArithmetic applies op with operand n to the last number the
// assistant said ("Now divide that result by 3.").
func followUpArithmetic(op, n string, hist []historyEntry) (string, bool) {
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].role != "block_assistant" {
			continue
		}
		nums := reNumber.FindAllString(hist[i].text, -1)
		if len(nums) == 0 {
			return "", false
		}
		prev := nums[len(nums)-1]
		sym := map[string]string{"divide": "/", "multiply": "*", "add": "+", "subtract": "-"}[op]
		r, ok := arithmetic(prev, sym, n)
		if !ok {
			return "", false
		}
		return fmt.Sprintf("%s %s %s = %s.", prev, sym, n, r), true
	}
	return "", false
}

func capitalReply(country string) (string, bool) {
	country = strings.TrimPrefix(strings.TrimSpace(country), "the ")
	c, ok := capitals[country]
	if !ok {
		return "", false
	}
	name, ok := countryNames[country]
	if !ok {
		name = strings.ToUpper(country[:1]) + country[1:]
	}
	return fmt.Sprintf("The capital of %s is %s.", name, c), true
}

func asksAboutCapitals(hist []historyEntry) bool {
	for _, e := range hist {
		if strings.Contains(strings.ToLower(e.text), "capital") {
			return true
		}
	}
	return false
}

// arithmetic evaluates a binary operation exactly.
func arithmetic(a, op, b string) (string, bool) {
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	if !ok1 || !ok2 {
		return "", false
	}
	z := new(big.Rat)
	switch op {
	case "+":
		z.Add(x, y)
	case "-":
		z.Sub(x, y)
	case "*", "x", "×":
		z.Mul(x, y)
	case "/":
		if y.Sign() == 0 {
			return "undefined (division by zero)", true
		}
		z.Quo(x, y)
	default:
		return "", false
	}
	if z.IsInt() {
		return z.Num().String(), true
	}
	return strings.TrimRight(strings.TrimRight(z.FloatString(6), "0"), "."), true
}

// splitTokens splits text into token-sized deltas on word boundaries: each
// token is a run of whitespace followed by a word, so concatenating the
// tokens reproduces text exactly.
func splitTokens(text string) []string {
	var out []string
	start := 0
	inWord := false
	for i, r := range text {
		space := r == ' ' || r == '\n' || r == '\t' || r == '\r'
		if space && inWord {
			out = append(out, text[start:i])
			start = i
			inWord = false
		} else if !space {
			inWord = true
		}
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	return out
}

// floodWords are the tokens of a [[sim:tokens N]] flood.
var floodWords = [...]string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"}

// floodSpaced holds the flood words with a leading space (read-only).
var floodSpaced = func() (out [len(floodWords)]string) {
	for i, w := range floodWords {
		out[i] = " " + w
	}
	return out
}()

// floodToken returns the i-th flood token (with a leading space after the
// first).
func floodToken(i int) string {
	if i == 0 {
		return floodWords[0]
	}
	return floodSpaced[i%len(floodWords)]
}
