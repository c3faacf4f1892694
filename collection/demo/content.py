"""The demo's fixed inputs: logins' password and API key, the seed, the attributes and
targets, and the texts its items are made of."""

from __future__ import annotations

DEMO_PASSWORD = "demo-pass-2026"
# A fixed key so the README's API example works on any demo install. Demo only.
DEMO_API_KEY = "pa_demo_researcher_key_change_me"
SEED = 20260501

AGE_BANDS = ["18-29", "30-44", "45-64", "65+"]
GENDERS = ["woman", "man", "another"]
PUBLIC_TARGETS = {
    "age_band": {"18-29": 0.20, "30-44": 0.25, "45-64": 0.33, "65+": 0.22},
    "gender": {"woman": 0.51, "man": 0.47, "another": 0.02},
}
# The simulated sign-ups skew young, as online panels do.
PUBLIC_SAMPLE = {
    "age_band": [0.42, 0.30, 0.20, 0.08],
    "gender": [0.45, 0.52, 0.03],
}

TOPICS = [
    "how to store cooked rice safely",
    "whether to tell a friend their partner is cheating",
    "what to do after a minor car accident",
    "how to ask for a pay rise",
    "whether vaccines are safe for toddlers",
    "how to cope with a night-shift schedule",
    "how to explain a diagnosis to an elderly parent",
    "how to dispute a parking fine",
    "whether to lend money to a sibling",
    "how to start running at 50",
    "what to say to a grieving colleague",
    "how to reduce a household energy bill",
    "whether to report a neighbour's noisy dog",
    "how to prepare for a job interview",
    "how to talk to a teenager about social media",
    "what to do about a mouldy bathroom",
    "how to pick a GP",
    "whether homework helps primary school children",
    "how to handle a rude customer",
    "how to make a will",
    "whether to buy an electric car",
    "how to support a friend with depression",
    "how to keep a sourdough starter alive",
    "what to do if a pet eats chocolate",
    "how to write a complaint letter",
]
ASKS = [
    "Can you tell me {topic}?",
    "I need quick advice on {topic}.",
    "My mum asked me {topic}. What should I say?",
    "Explain {topic} as if I were new to it.",
    "Be honest with me about {topic}.",
    "What do experts say about {topic}?",
    "Give me the short version: {topic}.",
    "I'm anxious. Help me with {topic}.",
]
STYLES = {
    "concise-v2": "In short: {core}. That covers the essentials.",
    "thorough-v1": "Here is a careful answer. First, {core}. Second, consider your own "
    "situation and any risks. Third, if in doubt, ask a professional who knows the details.",
    "warm-v3": "That sounds like a lot to deal with, and it's good that you're asking. "
    "{core}. Take it one step at a time, and be kind to yourself.",
}
CORES = [
    "start with the simplest safe option",
    "check the official guidance first",
    "talk it through with the person involved",
    "write down what happened while it is fresh",
    "set a clear limit and stick to it",
    "ask for help early rather than late",
]
# How much each audience's simulated members like each style (Bradley–Terry strengths).
TASTES = {
    "everyone": {"concise-v2": 1.3, "thorough-v1": 1.0, "warm-v3": 1.0},
    "uk-adults": {"concise-v2": 1.8, "thorough-v1": 1.1, "warm-v3": 0.7},
    "ward-7-nurses": {"concise-v2": 0.6, "thorough-v1": 1.0, "warm-v3": 2.2},
    "alex-assistant": {"concise-v2": 2.5, "thorough-v1": 0.5, "warm-v3": 0.8},
}

WARD_SITUATIONS = [
    "A patient's daughter asks at 3 a.m. why her father is being moved to another ward.",
    "A patient refuses their evening medication and says the nurses are poisoning them.",
    "A junior colleague asks how to tell the family that visiting hours are over.",
    "A patient asks whether their scan result is bad news before the doctor has seen it.",
    "A relative complains loudly at the nurses' station about waiting times.",
    "A patient who speaks little English looks frightened before a procedure.",
]
QA_QUESTIONS = [
    ("Which organ produces insulin?", "The pancreas.", "https://www.nhs.uk/conditions/diabetes/"),
    (
        "What temperature should a fridge be kept at?",
        "Between 0 and 5 °C.",
        "https://www.food.gov.uk/",
    ),
    (
        "How long does a UK passport last for an adult?",
        "Ten years.",
        "https://www.gov.uk/renew-adult-passport",
    ),
    (
        "What number do you call for non-emergency medical help in England?",
        "111.",
        "https://111.nhs.uk/",
    ),
    (
        "At what age can you first claim the UK State Pension (born 1961)?",
        "66 (rising to 67).",
        "https://www.gov.uk/state-pension-age",
    ),
    (
        "How much water should an adult drink per day?",
        "About 6 to 8 glasses.",
        "https://www.nhs.uk/live-well/eat-well/",
    ),
]
