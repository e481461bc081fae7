// Package all registers every built-in provider type: import it for its
// side effects, as kefu's composition root does.
//
//	import _ "github.com/kefu-chat/kefu/providers/all"
package all

import (
	_ "github.com/kefu-chat/kefu/providers/coze"
	_ "github.com/kefu-chat/kefu/providers/dify"
	_ "github.com/kefu-chat/kefu/providers/openai"
)
