// Package providers will own the generative provider registry (OpenAI
// compatible, Dify, Coze), routes with fallback chains, and token
// accounting. It is empty until the provider gateway issue lands.
package providers
