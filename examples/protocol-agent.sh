#!/bin/sh
# An alveary agent in POSIX sh: the agent protocol (docs/agent-protocol.md) in 30 lines.
# Task messages are compact JSON with "type" first and "payload" last, so plain parameter
# expansion cuts out the id, the kind and the raw payload. Kinds: "echo" returns the payload,
# "count" returns the length of its JSON text, anything else is an error.
# It talks on stdin/stdout, or on the FIFOs named by ALVEARY_IN/ALVEARY_OUT (tmux runtime).
if [ -n "$ALVEARY_IN" ]; then exec 3<"$ALVEARY_IN" 4>"$ALVEARY_OUT"; else exec 3<&0 4>&1; fi

say() { printf '%s\n' "$1" >&4; }

say '{"type":"hello","protocol":1,"name":"sh-agent","version":"1.0","capabilities":["echo","count"],"capacity":1}'
while IFS= read -r line <&3; do
    case "$line" in
    '{"type":"task"'*)
        id=${line#*\"id\":\"} && id=${id%%\"*}
        kind=${line#*\"kind\":\"} && kind=${kind%%\"*}
        payload=${line#*\"payload\":}
        payload=${payload%\}}
        case "$kind" in
        echo) say "{\"type\":\"result\",\"id\":\"$id\",\"value\":$payload}" ;;
        count) say "{\"type\":\"result\",\"id\":\"$id\",\"value\":${#payload}}" ;;
        *) say "{\"type\":\"error\",\"id\":\"$id\",\"message\":\"unknown kind $kind\",\"retry\":false}" ;;
        esac
        ;;
    '{"type":"shutdown"'*) exit 0 ;;
    esac
done
