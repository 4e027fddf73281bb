"""The policy as files: reading and checking them (`files`, `checks`), Casbin (`casbin_rules`, the only
module that imports it), the deeper checks of `policy check` (`coverage`), the policy's own test suites
(`suites`), the holder that reloads and swaps the running policy (`holder`), `policy apply` (`apply`),
replaying logged decisions under a candidate (`replay`) and `policy show` in words (`words`).

The decision core (`gateway/decision/`) sees only the compiled `Policy` value and its `Rules`
interface; nothing there reads a file or imports Casbin.
"""
