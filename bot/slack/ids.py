"""Every action id, callback id, block id and event type kukey uses, defined once."""

from __future__ import annotations

from typing import Final

COMMAND: Final = "/kukey"

# buttons (action_id)
APPROVE: Final = "kk_approve"
DENY: Final = "kk_deny"
REVEAL: Final = "kk_reveal"
WIPE: Final = "kk_wipe"
ENROLL_CONFIRM: Final = "kk_enroll_confirm"
REENROLL: Final = "kk_reenroll"
HOME_ROTATE: Final = "kk_home_rotate"  # the Home tab's buttons (Approve and Re-enroll there are the ones above)
HOME_REVOKE: Final = "kk_home_revoke"
HOME_ENROLL: Final = "kk_home_enroll"
REMINDER_ROTATE: Final = "kk_reminder_rotate"  # a key reminder's Rotate: does what the Home's Rotate does

# Events API events kukey subscribes to (the manifests' bot_events)
HOME_OPENED: Final = "app_home_opened"

# modals (callback_id)
APPROVE_VIEW: Final = "kk_approve_totp"
DENY_VIEW: Final = "kk_deny_reason"
REVEAL_VIEW: Final = "kk_reveal_totp"
ENROLL_VIEW: Final = "kk_enroll_code"
REENROLL_VIEW: Final = "kk_reenroll_current"
REENROLL_NEW_VIEW: Final = "kk_reenroll_new"
REVOKE_VIEW: Final = "kk_revoke_totp"
KILL_SWITCH_VIEW: Final = "kk_kill_switch"
CREATE_VIEW: Final = "kk_create_form"
HOME_VIEW: Final = "kk_home"  # the Home tab (views.publish), not a modal: nothing is submitted from it

# input blocks (block_id) and their elements (action_id)
CODE_BLOCK: Final = "code"
CODE_INPUT: Final = "code_input"
REASON_BLOCK: Final = "reason"
REASON_INPUT: Final = "reason_input"
COUNT_BLOCK: Final = "count"
COUNT_INPUT: Final = "count_input"
SUB_BLOCK: Final = "sub_account"
SUB_INPUT: Final = "sub_account_input"
PERMS_BLOCK: Final = "permissions"
PERMS_INPUT: Final = "permissions_input"
IPS_BLOCK: Final = "ips"
IPS_INPUT: Final = "ips_input"
EXPIRE_BLOCK: Final = "expire"
EXPIRE_INPUT: Final = "expire_input"

ALL_ACTIONS: Final = (APPROVE, DENY, REVEAL, WIPE, ENROLL_CONFIRM, REENROLL, HOME_ROTATE, HOME_REVOKE, HOME_ENROLL,
                      REMINDER_ROTATE)
ALL_VIEWS: Final = (APPROVE_VIEW, DENY_VIEW, REVEAL_VIEW, ENROLL_VIEW, REENROLL_VIEW, REENROLL_NEW_VIEW,
                    REVOKE_VIEW, KILL_SWITCH_VIEW, CREATE_VIEW)
ALL_EVENTS: Final = (HOME_OPENED,)
