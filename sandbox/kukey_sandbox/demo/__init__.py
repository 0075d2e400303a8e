"""`kukey demo`: the whole kukey story against the KuCoin sandbox and the Slack fake, as a transcript.

    render.py   Slack surfaces (blocks, mrkdwn) as terminal lines, with secrets masked
    screen.py   what changed in the Slack fake since the last look, as transcript lines
    story.py    the scripted story: enroll, request, approve, reveal, wipe, rotate, refuse, revoke, verify
    control.py  `kukey demo --keep`: a small local HTTP endpoint that acts as a demo user
    send.py     `python -m kukey_sandbox.demo.send`: type commands as a demo user (one-shot or a prompt)
"""
