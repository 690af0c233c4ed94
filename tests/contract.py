"""Facts of the contract (../shared/API.md) that tests check against, written from the contract."""

# §5, in its order; `events` appears in detail only.
RECORD_FIELDS = (
    "callId",
    "startTime",
    "endTime",
    "duration",
    "talkDuration",
    "holdDuration",
    "waitTime",
    "direction",
    "callType",
    "status",
    "callerNumber",
    "customerNumber",
    "didNumber",
    "agentId",
    "agentName",
    "campaign",
    "department",
    "disposition",
    "queueName",
    "hangupBy",
    "recordingUrl",
    "callAnalysis",
    "events",
)
