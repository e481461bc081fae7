package chunk_test

import (
	"fmt"

	"github.com/kefu-chat/kefu/knowledge/chunk"
)

func ExampleSplit() {
	md := `# 退换货政策

签收后 7 天内可无理由退货。

## 退货流程

1. 在“我的订单”中申请退货。
2. 按页面地址寄回。

### 运费

质量问题由本店承担。

` + "```" + `
# 代码块里的井号不是标题
` + "```" + `
`
	docs, _, err := chunk.Read("售后/退换货政策.md", []byte(md), []string{"售后"})
	if err != nil {
		panic(err)
	}
	for _, c := range chunk.Split(docs[0], chunk.Options{}) {
		fmt.Printf("%s  %s  %q\n", c.ID, c.Title, c.Text)
	}
	// Output:
	// 售后/退换货政策.md#0  退换货政策  "签收后 7 天内可无理由退货。"
	// 售后/退换货政策.md#1  退换货政策 > 退货流程  "1. 在“我的订单”中申请退货。\n2. 按页面地址寄回。"
	// 售后/退换货政策.md#2  退换货政策 > 退货流程 > 运费  "质量问题由本店承担。\n\n```\n# 代码块里的井号不是标题\n```"
}

func ExampleRead_faq() {
	csv := "问题,答案,相似问题\n退款多久到账？,仓库签收后 1-3 个工作日原路退回。,钱什么时候退\n没有答案的问题,,\n"
	docs, skipped, _ := chunk.Read("faq.csv", []byte(csv), nil)
	for _, d := range docs {
		c := chunk.Split(d, chunk.Options{})[0]
		fmt.Printf("%s %q %q\n", c.ID, c.Questions, c.Answer)
	}
	for _, s := range skipped {
		fmt.Println("skipped", s)
	}
	// Output:
	// faq.csv#2#0 ["退款多久到账？" "钱什么时候退"] "仓库签收后 1-3 个工作日原路退回。"
	// skipped faq.csv:3: missing "answer"
}
