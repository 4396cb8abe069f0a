"""Relevance benchmark corpus: 7 spoken talks and 100+ questions a user would ask about them.

Pure data (standard library only, nothing from vidsage) for the retrieval-quality benchmark of issue 14.
The benchmark code speaks each talk with espeak-ng (``tests.support.speech.synthesize``), transcribes it with
the offline Whisper model, indexes the transcripts as one library, asks every question and checks
whether the answer sentence is found. This module only holds the talks, the questions and their
answers, and :func:`validate` checks their shape.

Design
------
* :data:`TALKS` holds 7 scripts on clearly different everyday topics: a lentil soup recipe, fixing a
  dripping faucet, a community garden, a mountain train journey, a natural history museum, a morning
  workout and a small bookshop. Each is 16-18 sentences (about 220-285 words, 85-96 s when spoken by
  espeak-ng at 150 words per minute), and every sentence is a self-contained fact.
* The talks share vocabulary on purpose, as distractors for keyword matching: "minutes" and "hours"
  (soup, faucet, train, museum, fitness, bookshop), "water" (soup, faucet, garden, fitness),
  "temperature" and "degrees" (faucet, garden, train, museum, fitness), "morning" and "evening",
  weekdays (Sunday soup and free museum entry, Saturday repairs and shop hours, Wednesday garden and
  workout, Thursday museum talk and reading club), "restaurant car" and "restaurant", "harbor" (the
  museum view, the shop's street), "cookies", "rock" and "rocks", "cold", "night", small numbers.
* :data:`QUESTIONS` holds :class:`Question` entries. An answerable question names its ``talk`` and its
  ``answer``: the one whole sentence of ``TALKS[talk]`` that answers it, copied verbatim (up to and
  including its full stop). Questions are worded as a user would ask them: mostly paraphrases that
  avoid the answer's own content words ("How long will it last in the refrigerator?" for "Leftovers
  keep in the fridge for 4 days, ..."), some short, some "why" or "what happens if", a few that do use
  a name, a day or a number, as users do. Each talk has 15-18 questions over most of its sentences;
  no sentence answers more than 2 questions.
* Unanswerable questions (``talk=None, answer=None``, ids ``none-NN``) are plausible questions about
  the same topics whose answer is said nowhere (the salt in the soup, the name of the shop, the age of
  the museum's oldest object): a good system says it does not know, whatever it retrieves.
* ``split``: about 40 percent of the questions, answerable and unanswerable alike and spread over
  every talk, are ``"holdout"``; the rest are ``"tune"``. The split is written in the data (every 2nd
  and 4th question of each group of 5 within a talk), not drawn at import time.

Rules for whoever uses this corpus
----------------------------------
* The questions were written before any retrieval was run on these talks, blind to how the system
  ranks. Do not edit a question or its answer to make a search result look better.
* Tune (weights, chunk sizes, thresholds, rerankers) on ``questions("tune")`` only. Look at
  ``questions("holdout")`` to report a result, not to choose between settings; if holdout results
  drive a change, say so, and write new holdout questions.
* Locate an answer in a transcript with ``tests.support.relevance.find_phrase`` (one word error in four
  tolerated), never by exact match: Whisper writes some words its own way (see below).

Writing for espeak-ng and Whisper
---------------------------------
Every answer sentence was checked against real transcripts (espeak-ng en-us at 150 words per
minute, the transcriber's default Whisper settings, both of the WAV and of an MP4 made from it with
``tests.support.speech.make_speech_video``): each is found by ``find_phrase`` with at least one error to
spare, and the word error rate of every talk is under 5 percent. As in ``tests.support.relevance``,
numbers are digits, years are fine, numbers of 1,000 and more that are not years are avoided, spelling
is US and nothing needs a symbol ("percent", not "%"). Lessons from the check, for whoever edits this:

* Whisper writes small numbers either way ("6 people" comes back "six people"), so a sentence holds at
  most one or two numbers below 10, and short sentences hold none where possible.
* "N dollars" often comes back as "$N" (one lost word), so prices are rare and sit in long sentences.
* espeak-ng's "b" is weak at the start of a stressed syllable: "back room" became "Mac room",
  "paperback" "paper Mac", "bag" "mag", "butterfly" "buggerfly" or "murder flight", "beats" "meters",
  "pillow" "billow". Such words were replaced wherever Whisper missed them.
* Rare words were replaced: "caulk" (heard "cock"), "meteorite" ("immediately alright"), "nitrogen"
  ("hydrogen"), "straw" ("trauma", "rice trumpet"), "kitchen scraps" ("kitchen crap"); "Slugs are our"
  came back "Slug our outer", and "pushups" comes back "pushups" or "push-ups" (two words once the
  hyphen splits them), so it stays out of short sentences. The names are common ones Whisper spells
  (Frank, Oscar, Lucy; the cat "Pepper" came back "paper"). "40" was heard "four" and "14" "40", so
  those numbers changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Split = Literal["tune", "holdout"]


@dataclass(frozen=True)
class Question:
    """One benchmark question; ``talk`` and ``answer`` are ``None`` when no talk answers it."""

    id: str
    talk: str | None
    question: str
    answer: str | None
    split: Split


TALKS: dict[str, str] = {
    "soup": " ".join(
        [
            "Today I will show you how to make a thick red lentil soup that feeds 6 people.",
            "You need 2 cups of red lentils, a large onion, a few carrots, and some garlic.",
            "Rinse the lentils in a sieve under cold water until the water runs clear.",
            "Chop the onion and the carrots into small cubes about the size of a fingernail.",
            "Warm 3 tablespoons of olive oil in a heavy pot over medium heat.",
            "Cook the onion for about 8 minutes, until it turns soft and sweet.",
            "Stir in a teaspoon of ground cumin and a pinch of smoked paprika.",
            "Add the lentils, the carrots, and 6 cups of vegetable stock.",
            "Bring everything to a boil, then turn the heat down low.",
            "Let the pot simmer gently for 25 minutes with the lid slightly open.",
            "Stir the pot every few minutes, or the lentils will stick to the bottom and burn.",
            "The lentils are done when they fall apart and the soup looks creamy.",
            "If the soup gets too thick, add a splash of hot water from the kettle.",
            "Squeeze in the juice of half a lemon at the very end, because the sour taste wakes up all "
            "the other flavors.",
            "Serve the soup in warm bowls with a spoonful of plain yogurt and some toasted bread on the "
            "side.",
            "Leftovers keep in the fridge for 4 days, and the soup tastes even better on the second day.",
            "You can also freeze it in small containers for up to 3 months.",
            "My grandmother cooked this soup every Sunday during the long winter months.",
        ]
    ),
    "faucet": " ".join(
        [
            "A dripping kitchen faucet can waste more than 20 gallons of water every week.",
            "Before you start, close the two small valves under the sink to shut off the water.",
            "Open the faucet to release the pressure and drain whatever is left in the pipes.",
            "Put a towel in the bottom of the sink so that no tiny screws fall down the drain.",
            "Pry off the decorative cap on the handle with a flat screwdriver.",
            "Remove the screw underneath and lift the handle straight up.",
            "Inside you will find a rubber washer, which is usually the part that has worn out.",
            "Take the old washer with you to the hardware store, so that you can buy a new one of the same "
            "size.",
            "Spare washers are very cheap, and a whole packet costs less than a cup of coffee.",
            "Wrap the threads with a few turns of white plumber's tape before you put the handle back on.",
            "Tighten everything by hand first, and then give it only a quarter turn with the wrench.",
            "Turning it any harder can crack the brass fittings.",
            "Turn the water back on slowly and watch for leaks for a few minutes.",
            "The whole repair takes about 30 minutes, even for a beginner.",
            "If the faucet still drips with a new washer, the valve seat may be damaged, and it is time to "
            "call a plumber.",
            "On Saturday morning I also fixed the squeaky bedroom door with a few drops of oil on its "
            "hinges.",
            "Fresh silicone around the edge of the tub needs 24 hours to set before anyone uses the shower.",
            "Keep the room temperature above 50 degrees while the silicone cures, or it will stay soft.",
        ]
    ),
    "garden": " ".join(
        [
            "Our community garden sits behind the old library and has 36 small plots.",
            "Each family pays a small yearly fee, and the money covers the water bill.",
            "Tomatoes need at least 6 hours of direct sunlight every day.",
            "We plant them out in the middle of May, once the nights stay warmer than 50 degrees.",
            "Water deeply twice a week in the early morning, rather than a little every evening.",
            "When the leaves stay damp through the night, the plants easily catch mold and other diseases.",
            "A thick layer of wood chips between the plants keeps the soil cool and smothers weeds.",
            "We grow bright orange marigolds along every path to keep many insects away from the vegetables.",
            "Slugs do the most damage in our garden, and we catch them with small saucers of beer.",
            "The compost pile behind the shed turns apple cores and old leaves into dark crumbly soil in "
            "about 4 months.",
            "Turning the compost with a fork every week lets in air and makes it break down faster.",
            "Every spring we plant beans where the tomatoes grew the year before, because beans feed the "
            "tired soil.",
            "Our oldest member, a retired teacher named Frank, has grown pumpkins here for 30 years.",
            "His largest pumpkin weighed 212 pounds and won first prize at the county fair.",
            "Every Wednesday evening, volunteers meet to mend the fences and swap seeds.",
            "In the fall, we pick the last green tomatoes and let them ripen indoors next to a sunny window.",
        ]
    ),
    "train": " ".join(
        [
            "Last April I crossed the mountains by train, a journey that lasted 12 hours.",
            "The train left the central station at 7 o'clock in the morning, right on time.",
            "I had booked a window seat on the left side, which has the best view of the lake.",
            "My ticket cost 89 dollars, which is a good price, because I bought it 6 weeks in advance.",
            "The restaurant car served pancakes and fried eggs for breakfast until 10 o'clock.",
            "Around noon, the train climbed through a long tunnel that took 9 minutes to pass.",
            "On the other side, the temperature dropped below freezing, and snow covered the pine trees.",
            "At the highest point, the conductor announced that we were almost 2 miles above the sea.",
            "We stopped for 20 minutes in a small mining town, where passengers could stretch their legs.",
            "A freight train had broken down ahead of us, so we waited on a side track for almost an hour.",
            "To apologize for the delay, the crew handed out free coffee and cookies.",
            "In the observation car, a retired couple showed me how to spot eagles with binoculars.",
            "I spent the afternoon reading a mystery novel and watching the river far below.",
            "The sleeping cabins have narrow beds that fold down from the wall.",
            "We finally pulled into the station at 9 o'clock at night, 50 minutes behind schedule.",
            "Next time I will pack a warm sweater, because the cabin got cold during the night.",
        ]
    ),
    "museum": " ".join(
        [
            "Welcome to the city museum of natural history, which opened its doors in 1908.",
            "The museum is open every day except Monday, from 9 in the morning until 5 in the afternoon.",
            "Entry is free for everyone on the first Sunday of every month.",
            "In the main hall stands the skeleton of a dinosaur that is 26 meters long.",
            "Farmers dug up its bones in 1923, and it took 11 years to put them together.",
            "The mineral room on the second floor holds more than 800 rocks and crystals from every "
            "continent.",
            "Hundreds of butterflies fly freely in the tropical greenhouse, which is kept at 85 degrees all "
            "year long.",
            "Flash photography is not allowed, because bright light slowly fades the old paintings.",
            "The oldest object in the collection is a rock from outer space that fell into a wheat field.",
            "Children can touch real fossils at the discovery table near the gift shop.",
            "Guided tours start every hour and last about 45 minutes.",
            "From the restaurant on the top floor, you can see the whole harbor.",
            "Large bags must be left in the lockers next to the entrance.",
            "Every Thursday evening, a scientist gives a short talk about a new discovery.",
            "Most visitors need about 3 hours to see everything.",
            "The museum is closed on New Year's Day and on Thanksgiving.",
        ]
    ),
    "fitness": " ".join(
        [
            "My morning workout takes 35 minutes and needs no equipment at all.",
            "I start with 5 minutes of marching on the spot to warm up my muscles.",
            "The main part of the workout is 3 rounds of squats, pushups, and lunges, done one after the "
            "other.",
            "Each round has 15 squats, 10 pushups, and 12 lunges on each leg.",
            "After each round I rest for 90 seconds and have a glass of water.",
            "During a squat, keep your knees behind your toes to protect your joints.",
            "If regular pushups are too hard, do them against a kitchen counter instead.",
            "After the last round, I hold a plank for 1 minute, which builds strength in the stomach and "
            "the lower back.",
            "I finish with 10 minutes of slow stretching while my heart rate comes down.",
            "I train on Monday, Wednesday, and Friday, and take long walks on the other days.",
            "Rest days matter, because muscles grow while you recover, not while you train.",
            "During the hard part, I try to keep my heart beating about 140 times a minute.",
            "I eat a banana half an hour before training, so that I do not feel dizzy.",
            "After 8 weeks, I was twice as strong as when I started.",
            "Getting at least 7 hours of sleep every night made a bigger difference than any exercise.",
            "In summer I train at sunrise, before the temperature climbs above 75 degrees.",
        ]
    ),
    "bookshop": " ".join(
        [
            "My sister and I opened a small shop for used books on Harbor Road 5 years ago.",
            "We paid for the first shelves with our own savings and a small loan from the bank.",
            "The shop is open from Tuesday to Saturday, from 10 in the morning until 6 in the evening.",
            "Our busiest hours are on Saturday afternoon, when families drop in after the weekly market.",
            "We buy most of our stock at estate sales and from people who are moving house.",
            "Most of our books sell for 4 dollars each, and a hardcover costs about twice as much.",
            "Rent is our biggest cost, and it eats almost half of what we earn each month.",
            "We keep the storage room cool and dry, because moisture ruins old paper.",
            "Our cat, Oscar, sleeps in the front window and has become more famous than the shop itself.",
            "Every Thursday evening we host a reading club with tea and cookies.",
            "Last year we started selling books online, and online orders now make up a quarter of our "
            "sales.",
            "We wrap every order in recycled paper and ship it within 2 days.",
            "Our rarest find was a first edition of a children's book from 1937, which paid our rent for a "
            "whole year.",
            "We hired our first employee, a student named Lucy, who works 12 hours a week.",
            "The hardest lesson was that we cannot keep every book we love.",
            "Our advice for new shop owners is to write down every expense in a notebook from the very "
            "first day.",
        ]
    ),
}
"""Talk name → script; each script is its sentences joined by single spaces."""

QUESTIONS: list[Question] = [
    # soup
    Question(
        "soup-01",
        "soup",
        "How many servings does this recipe make?",
        "Today I will show you how to make a thick red lentil soup that feeds 6 people.",
        "tune",
    ),
    Question(
        "soup-02",
        "soup",
        "What goes on the shopping list for this dish?",
        "You need 2 cups of red lentils, a large onion, a few carrots, and some garlic.",
        "holdout",
    ),
    Question(
        "soup-03",
        "soup",
        "How do I wash the legumes before cooking?",
        "Rinse the lentils in a sieve under cold water until the water runs clear.",
        "tune",
    ),
    Question(
        "soup-04",
        "soup",
        "How small should I dice the vegetables?",
        "Chop the onion and the carrots into small cubes about the size of a fingernail.",
        "holdout",
    ),
    Question(
        "soup-05",
        "soup",
        "How long do I fry the onion for?",
        "Cook the onion for about 8 minutes, until it turns soft and sweet.",
        "tune",
    ),
    Question(
        "soup-06",
        "soup",
        "Which spices go into it?",
        "Stir in a teaspoon of ground cumin and a pinch of smoked paprika.",
        "tune",
    ),
    Question(
        "soup-07",
        "soup",
        "how long should the soup cook?",
        "Let the pot simmer gently for 25 minutes with the lid slightly open.",
        "holdout",
    ),
    Question(
        "soup-08",
        "soup",
        "What happens if I forget to mix it while it cooks?",
        "Stir the pot every few minutes, or the lentils will stick to the bottom and burn.",
        "tune",
    ),
    Question(
        "soup-09",
        "soup",
        "How can I tell when it's ready?",
        "The lentils are done when they fall apart and the soup looks creamy.",
        "holdout",
    ),
    Question(
        "soup-10",
        "soup",
        "Mine turned out way too stodgy, how do I loosen it?",
        "If the soup gets too thick, add a splash of hot water from the kettle.",
        "tune",
    ),
    Question(
        "soup-11",
        "soup",
        "Why add citrus right before the end?",
        "Squeeze in the juice of half a lemon at the very end, because the sour taste wakes up all the "
        "other flavors.",
        "tune",
    ),
    Question(
        "soup-12",
        "soup",
        "What should I put on the table with it?",
        "Serve the soup in warm bowls with a spoonful of plain yogurt and some toasted bread on the side.",
        "holdout",
    ),
    Question(
        "soup-13",
        "soup",
        "How long will it last in the refrigerator?",
        "Leftovers keep in the fridge for 4 days, and the soup tastes even better on the second day.",
        "tune",
    ),
    Question(
        "soup-14",
        "soup",
        "Can I store a batch in the freezer?",
        "You can also freeze it in small containers for up to 3 months.",
        "holdout",
    ),
    Question(
        "soup-15",
        "soup",
        "Is this a family recipe?",
        "My grandmother cooked this soup every Sunday during the long winter months.",
        "tune",
    ),
    # faucet
    Question(
        "faucet-01",
        "faucet",
        "How much does a leaky tap actually lose?",
        "A dripping kitchen faucet can waste more than 20 gallons of water every week.",
        "tune",
    ),
    Question(
        "faucet-02",
        "faucet",
        "How do I cut off the supply before I begin?",
        "Before you start, close the two small valves under the sink to shut off the water.",
        "holdout",
    ),
    Question(
        "faucet-03",
        "faucet",
        "Why open the tap once the supply is off?",
        "Open the faucet to release the pressure and drain whatever is left in the pipes.",
        "tune",
    ),
    Question(
        "faucet-04",
        "faucet",
        "How do I avoid losing little bits down the plughole?",
        "Put a towel in the bottom of the sink so that no tiny screws fall down the drain.",
        "holdout",
    ),
    Question(
        "faucet-05",
        "faucet",
        "How do I get the little cover off the top of the knob?",
        "Pry off the decorative cap on the handle with a flat screwdriver.",
        "tune",
    ),
    Question(
        "faucet-06",
        "faucet",
        "Which component usually causes the drip?",
        "Inside you will find a rubber washer, which is usually the part that has worn out.",
        "tune",
    ),
    Question(
        "faucet-07",
        "faucet",
        "How do I make sure I get the right replacement?",
        "Take the old washer with you to the hardware store, so that you can buy a new one of the same size.",
        "holdout",
    ),
    Question(
        "faucet-08",
        "faucet",
        "Is the replacement part expensive?",
        "Spare washers are very cheap, and a whole packet costs less than a cup of coffee.",
        "tune",
    ),
    Question(
        "faucet-09",
        "faucet",
        "How tight should I screw it all back?",
        "Tighten everything by hand first, and then give it only a quarter turn with the wrench.",
        "holdout",
    ),
    Question(
        "faucet-10",
        "faucet",
        "What can go wrong if I overtighten it?",
        "Turning it any harder can crack the brass fittings.",
        "tune",
    ),
    Question(
        "faucet-11",
        "faucet",
        "How long will the whole job take me?",
        "The whole repair takes about 30 minutes, even for a beginner.",
        "tune",
    ),
    Question(
        "faucet-12",
        "faucet",
        "When should I give up and get a professional in?",
        "If the faucet still drips with a new washer, the valve seat may be damaged, and it is time to call "
        "a plumber.",
        "holdout",
    ),
    Question(
        "faucet-13",
        "faucet",
        "How did they stop a door from creaking?",
        "On Saturday morning I also fixed the squeaky bedroom door with a few drops of oil on its hinges.",
        "tune",
    ),
    Question(
        "faucet-14",
        "faucet",
        "How long before I can shower after sealing around the bath?",
        "Fresh silicone around the edge of the tub needs 24 hours to set before anyone uses the shower.",
        "holdout",
    ),
    Question(
        "faucet-15",
        "faucet",
        "Does it matter how warm the bathroom is while the sealant dries?",
        "Keep the room temperature above 50 degrees while the silicone cures, or it will stay soft.",
        "tune",
    ),
    # garden
    Question(
        "garden-01",
        "garden",
        "Where is the shared garden?",
        "Our community garden sits behind the old library and has 36 small plots.",
        "tune",
    ),
    Question(
        "garden-02",
        "garden",
        "What does the membership money pay for?",
        "Each family pays a small yearly fee, and the money covers the water bill.",
        "holdout",
    ),
    Question(
        "garden-03",
        "garden",
        "How much sun do tomato plants need?",
        "Tomatoes need at least 6 hours of direct sunlight every day.",
        "tune",
    ),
    Question(
        "garden-04",
        "garden",
        "When is it safe to put tomatoes outside?",
        "We plant them out in the middle of May, once the nights stay warmer than 50 degrees.",
        "holdout",
    ),
    Question(
        "garden-05",
        "garden",
        "How often should I irrigate the beds, and when?",
        "Water deeply twice a week in the early morning, rather than a little every evening.",
        "tune",
    ),
    Question(
        "garden-06",
        "garden",
        "Why is evening watering a bad idea?",
        "When the leaves stay damp through the night, the plants easily catch mold and other diseases.",
        "tune",
    ),
    Question(
        "garden-07",
        "garden",
        "What do they use as mulch?",
        "A thick layer of wood chips between the plants keeps the soil cool and smothers weeds.",
        "holdout",
    ),
    Question(
        "garden-08",
        "garden",
        "Which flowers help against pests?",
        "We grow bright orange marigolds along every path to keep many insects away from the vegetables.",
        "tune",
    ),
    Question(
        "garden-09",
        "garden",
        "What's their trick against slugs?",
        "Slugs do the most damage in our garden, and we catch them with small saucers of beer.",
        "holdout",
    ),
    Question(
        "garden-10",
        "garden",
        "How long until food waste turns into usable earth?",
        "The compost pile behind the shed turns apple cores and old leaves into dark crumbly soil in about "
        "4 months.",
        "tune",
    ),
    Question(
        "garden-11",
        "garden",
        "Why stir the heap every week?",
        "Turning the compost with a fork every week lets in air and makes it break down faster.",
        "tune",
    ),
    Question(
        "garden-12",
        "garden",
        "What do they grow in last year's tomato bed?",
        "Every spring we plant beans where the tomatoes grew the year before, because beans feed the tired "
        "soil.",
        "holdout",
    ),
    Question(
        "garden-13",
        "garden",
        "Who has been gardening there the longest?",
        "Our oldest member, a retired teacher named Frank, has grown pumpkins here for 30 years.",
        "tune",
    ),
    Question(
        "garden-14",
        "garden",
        "How heavy was the record pumpkin?",
        "His largest pumpkin weighed 212 pounds and won first prize at the county fair.",
        "holdout",
    ),
    Question(
        "garden-15",
        "garden",
        "Is there a regular work night for helpers?",
        "Every Wednesday evening, volunteers meet to mend the fences and swap seeds.",
        "tune",
    ),
    Question(
        "garden-16",
        "garden",
        "What happens to unripe fruit at the end of the season?",
        "In the fall, we pick the last green tomatoes and let them ripen indoors next to a sunny window.",
        "tune",
    ),
    Question(
        "garden-17",
        "garden",
        "What does Frank grow?",
        "Our oldest member, a retired teacher named Frank, has grown pumpkins here for 30 years.",
        "holdout",
    ),
    # train
    Question(
        "train-01",
        "train",
        "How long was the whole trip?",
        "Last April I crossed the mountains by train, a journey that lasted 12 hours.",
        "tune",
    ),
    Question(
        "train-02",
        "train",
        "What time did we depart?",
        "The train left the central station at 7 o'clock in the morning, right on time.",
        "holdout",
    ),
    Question(
        "train-03",
        "train",
        "Which side of the carriage is best for scenery?",
        "I had booked a window seat on the left side, which has the best view of the lake.",
        "tune",
    ),
    Question(
        "train-04",
        "train",
        "How much was the fare?",
        "My ticket cost 89 dollars, which is a good price, because I bought it 6 weeks in advance.",
        "holdout",
    ),
    Question(
        "train-05",
        "train",
        "How far ahead did they reserve?",
        "My ticket cost 89 dollars, which is a good price, because I bought it 6 weeks in advance.",
        "tune",
    ),
    Question(
        "train-06",
        "train",
        "Until when could you get a morning meal on board?",
        "The restaurant car served pancakes and fried eggs for breakfast until 10 o'clock.",
        "tune",
    ),
    Question(
        "train-07",
        "train",
        "How long were we in the dark under the mountain?",
        "Around noon, the train climbed through a long tunnel that took 9 minutes to pass.",
        "holdout",
    ),
    Question(
        "train-08",
        "train",
        "Was it cold up there?",
        "On the other side, the temperature dropped below freezing, and snow covered the pine trees.",
        "tune",
    ),
    Question(
        "train-09",
        "train",
        "How high does the railway go?",
        "At the highest point, the conductor announced that we were almost 2 miles above the sea.",
        "holdout",
    ),
    Question(
        "train-10",
        "train",
        "Was there a chance to get off along the way?",
        "We stopped for 20 minutes in a small mining town, where passengers could stretch their legs.",
        "tune",
    ),
    Question(
        "train-11",
        "train",
        "Why was the train held up?",
        "A freight train had broken down ahead of us, so we waited on a side track for almost an hour.",
        "tune",
    ),
    Question(
        "train-12",
        "train",
        "Did the passengers get anything for the wait?",
        "To apologize for the delay, the crew handed out free coffee and cookies.",
        "holdout",
    ),
    Question(
        "train-13",
        "train",
        "Where could you watch birds of prey?",
        "In the observation car, a retired couple showed me how to spot eagles with binoculars.",
        "tune",
    ),
    Question(
        "train-14",
        "train",
        "What are the berths like in the sleeper?",
        "The sleeping cabins have narrow beds that fold down from the wall.",
        "holdout",
    ),
    Question(
        "train-15",
        "train",
        "How late was the arrival?",
        "We finally pulled into the station at 9 o'clock at night, 50 minutes behind schedule.",
        "tune",
    ),
    Question(
        "train-16",
        "train",
        "What would the traveler take along next time?",
        "Next time I will pack a warm sweater, because the cabin got cold during the night.",
        "tune",
    ),
    # museum
    Question(
        "museum-01",
        "museum",
        "When was the museum founded?",
        "Welcome to the city museum of natural history, which opened its doors in 1908.",
        "tune",
    ),
    Question(
        "museum-02",
        "museum",
        "What are the opening hours?",
        "The museum is open every day except Monday, from 9 in the morning until 5 in the afternoon.",
        "holdout",
    ),
    Question(
        "museum-03",
        "museum",
        "Can I visit on a Monday?",
        "The museum is open every day except Monday, from 9 in the morning until 5 in the afternoon.",
        "tune",
    ),
    Question(
        "museum-04",
        "museum",
        "Is there a day when admission costs nothing?",
        "Entry is free for everyone on the first Sunday of every month.",
        "holdout",
    ),
    Question(
        "museum-05",
        "museum",
        "How big is the dinosaur?",
        "In the main hall stands the skeleton of a dinosaur that is 26 meters long.",
        "tune",
    ),
    Question(
        "museum-06",
        "museum",
        "Who discovered the big skeleton and when?",
        "Farmers dug up its bones in 1923, and it took 11 years to put them together.",
        "tune",
    ),
    Question(
        "museum-07",
        "museum",
        "How many minerals are on display?",
        "The mineral room on the second floor holds more than 800 rocks and crystals from every continent.",
        "holdout",
    ),
    Question(
        "museum-08",
        "museum",
        "How warm is it where the butterflies are?",
        "Hundreds of butterflies fly freely in the tropical greenhouse, which is kept at 85 degrees all "
        "year long.",
        "tune",
    ),
    Question(
        "museum-09",
        "museum",
        "Am I allowed to take pictures with a flash?",
        "Flash photography is not allowed, because bright light slowly fades the old paintings.",
        "holdout",
    ),
    Question(
        "museum-10",
        "museum",
        "What's the most ancient item they have?",
        "The oldest object in the collection is a rock from outer space that fell into a wheat field.",
        "tune",
    ),
    Question(
        "museum-11",
        "museum",
        "Is there anything hands-on for kids?",
        "Children can touch real fossils at the discovery table near the gift shop.",
        "tune",
    ),
    Question(
        "museum-12",
        "museum",
        "How long does a guided visit take?",
        "Guided tours start every hour and last about 45 minutes.",
        "holdout",
    ),
    Question(
        "museum-13",
        "museum",
        "Where can I eat with a view of the boats?",
        "From the restaurant on the top floor, you can see the whole harbor.",
        "tune",
    ),
    Question(
        "museum-14",
        "museum",
        "What do I do with my backpack?",
        "Large bags must be left in the lockers next to the entrance.",
        "holdout",
    ),
    Question(
        "museum-15",
        "museum",
        "Are there any evening lectures?",
        "Every Thursday evening, a scientist gives a short talk about a new discovery.",
        "tune",
    ),
    Question(
        "museum-16",
        "museum",
        "How much time should I plan for the visit?",
        "Most visitors need about 3 hours to see everything.",
        "tune",
    ),
    Question(
        "museum-17",
        "museum",
        "Which holidays is it shut?",
        "The museum is closed on New Year's Day and on Thanksgiving.",
        "holdout",
    ),
    Question(
        "museum-18",
        "museum",
        "What happened in 1923?",
        "Farmers dug up its bones in 1923, and it took 11 years to put them together.",
        "tune",
    ),
    # fitness
    Question(
        "fitness-01",
        "fitness",
        "How long is the daily exercise session?",
        "My morning workout takes 35 minutes and needs no equipment at all.",
        "tune",
    ),
    Question(
        "fitness-02",
        "fitness",
        "What's the first thing they do before the real exercises?",
        "I start with 5 minutes of marching on the spot to warm up my muscles.",
        "holdout",
    ),
    Question(
        "fitness-03",
        "fitness",
        "Which exercises are in the routine?",
        "The main part of the workout is 3 rounds of squats, pushups, and lunges, done one after the other.",
        "tune",
    ),
    Question(
        "fitness-04",
        "fitness",
        "How many reps of each move?",
        "Each round has 15 squats, 10 pushups, and 12 lunges on each leg.",
        "holdout",
    ),
    Question(
        "fitness-05",
        "fitness",
        "How long is the break between sets?",
        "After each round I rest for 90 seconds and have a glass of water.",
        "tune",
    ),
    Question(
        "fitness-06",
        "fitness",
        "How do I avoid hurting myself when I squat?",
        "During a squat, keep your knees behind your toes to protect your joints.",
        "tune",
    ),
    Question(
        "fitness-07",
        "fitness",
        "Is there an easier version of the pushup for beginners?",
        "If regular pushups are too hard, do them against a kitchen counter instead.",
        "holdout",
    ),
    Question(
        "fitness-08",
        "fitness",
        "What core exercise do they do at the end?",
        "After the last round, I hold a plank for 1 minute, which builds strength in the stomach and the "
        "lower back.",
        "tune",
    ),
    Question(
        "fitness-09",
        "fitness",
        "How does the session end?",
        "I finish with 10 minutes of slow stretching while my heart rate comes down.",
        "holdout",
    ),
    Question(
        "fitness-10",
        "fitness",
        "Which days of the week do they exercise?",
        "I train on Monday, Wednesday, and Friday, and take long walks on the other days.",
        "tune",
    ),
    Question(
        "fitness-11",
        "fitness",
        "Why take days off?",
        "Rest days matter, because muscles grow while you recover, not while you train.",
        "tune",
    ),
    Question(
        "fitness-12",
        "fitness",
        "What pulse should I target?",
        "During the hard part, I try to keep my heart beating about 140 times a minute.",
        "holdout",
    ),
    Question(
        "fitness-13",
        "fitness",
        "What should I eat before a workout?",
        "I eat a banana half an hour before training, so that I do not feel dizzy.",
        "tune",
    ),
    Question(
        "fitness-14",
        "fitness",
        "What results did they see after two months?",
        "After 8 weeks, I was twice as strong as when I started.",
        "holdout",
    ),
    Question(
        "fitness-15",
        "fitness",
        "What helped more than the exercises themselves?",
        "Getting at least 7 hours of sleep every night made a bigger difference than any exercise.",
        "tune",
    ),
    Question(
        "fitness-16",
        "fitness",
        "How do they cope with hot weather?",
        "In summer I train at sunrise, before the temperature climbs above 75 degrees.",
        "tune",
    ),
    Question(
        "fitness-17",
        "fitness",
        "Why the banana before training?",
        "I eat a banana half an hour before training, so that I do not feel dizzy.",
        "holdout",
    ),
    # bookshop
    Question(
        "bookshop-01",
        "bookshop",
        "When did the store open?",
        "My sister and I opened a small shop for used books on Harbor Road 5 years ago.",
        "tune",
    ),
    Question(
        "bookshop-02",
        "bookshop",
        "How did they finance the business?",
        "We paid for the first shelves with our own savings and a small loan from the bank.",
        "holdout",
    ),
    Question(
        "bookshop-03",
        "bookshop",
        "Is the store open on Sundays?",
        "The shop is open from Tuesday to Saturday, from 10 in the morning until 6 in the evening.",
        "tune",
    ),
    Question(
        "bookshop-04",
        "bookshop",
        "When is it most crowded?",
        "Our busiest hours are on Saturday afternoon, when families drop in after the weekly market.",
        "holdout",
    ),
    Question(
        "bookshop-05",
        "bookshop",
        "Where do they get their books?",
        "We buy most of our stock at estate sales and from people who are moving house.",
        "tune",
    ),
    Question(
        "bookshop-06",
        "bookshop",
        "How much does a book cost there?",
        "Most of our books sell for 4 dollars each, and a hardcover costs about twice as much.",
        "tune",
    ),
    Question(
        "bookshop-07",
        "bookshop",
        "What is their largest expense?",
        "Rent is our biggest cost, and it eats almost half of what we earn each month.",
        "holdout",
    ),
    Question(
        "bookshop-08",
        "bookshop",
        "How do they protect old books from damage?",
        "We keep the storage room cool and dry, because moisture ruins old paper.",
        "tune",
    ),
    Question(
        "bookshop-09",
        "bookshop",
        "Does the store have a pet?",
        "Our cat, Oscar, sleeps in the front window and has become more famous than the shop itself.",
        "holdout",
    ),
    Question(
        "bookshop-10",
        "bookshop",
        "Is there a book group?",
        "Every Thursday evening we host a reading club with tea and cookies.",
        "tune",
    ),
    Question(
        "bookshop-11",
        "bookshop",
        "How much of their revenue comes from internet sales?",
        "Last year we started selling books online, and online orders now make up a quarter of our sales.",
        "tune",
    ),
    Question(
        "bookshop-12",
        "bookshop",
        "How fast do they send out orders?",
        "We wrap every order in recycled paper and ship it within 2 days.",
        "holdout",
    ),
    Question(
        "bookshop-13",
        "bookshop",
        "What was the most valuable book they ever found?",
        "Our rarest find was a first edition of a children's book from 1937, which paid our rent for a "
        "whole year.",
        "tune",
    ),
    Question(
        "bookshop-14",
        "bookshop",
        "Do they have any staff?",
        "We hired our first employee, a student named Lucy, who works 12 hours a week.",
        "holdout",
    ),
    Question(
        "bookshop-15",
        "bookshop",
        "What was the toughest thing they learned?",
        "The hardest lesson was that we cannot keep every book we love.",
        "tune",
    ),
    Question(
        "bookshop-16",
        "bookshop",
        "What tip do they give to people starting a shop?",
        "Our advice for new shop owners is to write down every expense in a notebook from the very first "
        "day.",
        "tune",
    ),
    Question(
        "bookshop-17",
        "bookshop",
        "Who is Lucy?",
        "We hired our first employee, a student named Lucy, who works 12 hours a week.",
        "holdout",
    ),
    # unanswerable: plausible questions whose answer no talk says
    Question("none-01", None, "How much salt should I add to the lentil soup?", None, "tune"),
    Question("none-02", None, "Can I make the soup in a pressure cooker?", None, "holdout"),
    Question("none-03", None, "What size wrench do I need for the faucet?", None, "tune"),
    Question("none-04", None, "How do I fix a toilet that keeps running?", None, "holdout"),
    Question("none-05", None, "What kind of tomatoes grow best in the community garden?", None, "tune"),
    Question("none-06", None, "How do I get on the waiting list for a garden plot?", None, "tune"),
    Question("none-07", None, "Is there wifi on the train?", None, "holdout"),
    Question("none-08", None, "What was the name of the mining town where the train stopped?", None, "tune"),
    Question("none-09", None, "How much is a regular adult ticket to the museum?", None, "holdout"),
    Question("none-10", None, "Can I get around the museum in a wheelchair?", None, "tune"),
    Question("none-11", None, "How old is the oldest thing in the museum?", None, "tune"),
    Question("none-12", None, "How many calories does the morning workout burn?", None, "holdout"),
    Question("none-13", None, "What is the bookshop called?", None, "tune"),
    Question("none-14", None, "Does the bookshop take credit cards?", None, "holdout"),
]
"""Every benchmark question: answerable ones grouped by talk, then the unanswerable ones."""

MIN_TALKS = 6
MIN_ANSWERABLE = 80
MIN_UNANSWERABLE = 8
MIN_PER_TALK = 10
MAX_PER_SENTENCE = 2
HOLDOUT_SHARE = (0.3, 0.5)
"""Bounds on the share of ``"holdout"`` questions, overall and among the unanswerable ones."""
SENTENCES_PER_TALK = (12, 25)
WORDS_PER_TALK = (150, 350)

_SENTENCE_BREAK = re.compile(r"(?<=\.) +")
_ID = re.compile(r"^([a-z]+)-(\d{2})$")
_ALLOWED = re.compile(r"^[A-Za-z0-9 ,.']+$")  # no symbols espeak-ng would spell out or skip
_NUMBER = re.compile(r"\d+")


def sentences(talk: str) -> list[str]:
    """The sentences of ``TALKS[talk]``, each ending with its full stop."""
    return _SENTENCE_BREAK.split(TALKS[talk])


def questions(split: str | None = None) -> list[Question]:
    """The questions of one split (``"tune"`` or ``"holdout"``), or all of them for ``None``."""
    if split not in (None, "tune", "holdout"):
        raise ValueError(f"split must be 'tune', 'holdout' or None, got {split!r}")
    return [q for q in QUESTIONS if split is None or q.split == split]


def validate() -> None:
    """Check the corpus' shape; raises ``ValueError`` listing every problem found.

    Talks: at least :data:`MIN_TALKS`, each of 12-25 sentences and 150-350 words, plain characters
    only, and no number of 1,000 or more that is not a year. Questions: unique ids of the form
    ``<talk>-NN`` (``none-NN`` when unanswerable) and unique wording; a known split; an answerable
    question's answer is one whole sentence of its talk (a verbatim substring ending at its full stop);
    an unanswerable one has neither talk nor answer; at least :data:`MIN_PER_TALK` questions per talk,
    in both splits; at most :data:`MAX_PER_SENTENCE` questions per answer sentence; at least
    :data:`MIN_ANSWERABLE` answerable and :data:`MIN_UNANSWERABLE` unanswerable questions; and a
    holdout share within :data:`HOLDOUT_SHARE`, overall and among the unanswerable questions.
    """
    problems: list[str] = []
    if len(TALKS) < MIN_TALKS:
        problems.append(f"{len(TALKS)} talks, expected at least {MIN_TALKS}")
    for name, text in TALKS.items():
        parts = sentences(name)
        words = len(text.split())
        if not SENTENCES_PER_TALK[0] <= len(parts) <= SENTENCES_PER_TALK[1]:
            problems.append(f"talk {name!r}: {len(parts)} sentences, expected {SENTENCES_PER_TALK}")
        if not WORDS_PER_TALK[0] <= words <= WORDS_PER_TALK[1]:
            problems.append(f"talk {name!r}: {words} words, expected {WORDS_PER_TALK}")
        if not _ALLOWED.match(text):
            problems.append(f"talk {name!r}: characters other than letters, digits, spaces and ,.'")
        for part in parts:
            if not part.endswith(".") or "." in part[:-1]:
                problems.append(f"talk {name!r}: not one sentence ending with a full stop: {part!r}")
        for number in _NUMBER.findall(text):
            if int(number) >= 1000 and not 1800 <= int(number) <= 2099:
                problems.append(f"talk {name!r}: {number} is 1,000 or more and not a year")

    seen_ids: set[str] = set()
    seen_questions: set[str] = set()
    per_sentence: dict[tuple[str, str], int] = {}
    for q in QUESTIONS:
        if q.id in seen_ids:
            problems.append(f"duplicate id {q.id!r}")
        seen_ids.add(q.id)
        if q.question.lower() in seen_questions:
            problems.append(f"{q.id}: duplicate question {q.question!r}")
        seen_questions.add(q.question.lower())
        if q.split not in ("tune", "holdout"):
            problems.append(f"{q.id}: unknown split {q.split!r}")
        match = _ID.match(q.id)
        if match is None or match.group(1) != (q.talk or "none"):
            problems.append(f"{q.id}: id should be '{q.talk or 'none'}-NN'")
        if q.talk is None or q.answer is None:
            if q.talk is not None or q.answer is not None:
                problems.append(f"{q.id}: an unanswerable question has neither talk nor answer")
            continue
        if q.talk not in TALKS:
            problems.append(f"{q.id}: unknown talk {q.talk!r}")
            continue
        if q.answer not in TALKS[q.talk]:
            problems.append(f"{q.id}: answer is not a verbatim substring of talk {q.talk!r}")
        elif q.answer not in sentences(q.talk):
            problems.append(f"{q.id}: answer is not one whole sentence of talk {q.talk!r}")
        key = (q.talk, q.answer)
        per_sentence[key] = per_sentence.get(key, 0) + 1
        if per_sentence[key] > MAX_PER_SENTENCE:
            problems.append(f"{q.id}: more than {MAX_PER_SENTENCE} questions answered by {q.answer!r}")

    answerable = [q for q in QUESTIONS if q.talk is not None]
    unanswerable = [q for q in QUESTIONS if q.talk is None]
    if len(answerable) < MIN_ANSWERABLE:
        problems.append(f"{len(answerable)} answerable questions, expected at least {MIN_ANSWERABLE}")
    if len(unanswerable) < MIN_UNANSWERABLE:
        problems.append(f"{len(unanswerable)} unanswerable questions, expected at least {MIN_UNANSWERABLE}")
    for name in TALKS:
        own = [q for q in answerable if q.talk == name]
        if len(own) < MIN_PER_TALK:
            problems.append(f"talk {name!r}: {len(own)} questions, expected at least {MIN_PER_TALK}")
        if {q.split for q in own} != {"tune", "holdout"}:
            problems.append(f"talk {name!r}: needs questions in both splits")
    for label, group in (("all questions", QUESTIONS), ("unanswerable questions", unanswerable)):
        if group:
            share = sum(q.split == "holdout" for q in group) / len(group)
            if not HOLDOUT_SHARE[0] <= share <= HOLDOUT_SHARE[1]:
                problems.append(f"{label}: holdout share {share:.2f}, expected within {HOLDOUT_SHARE}")
    if problems:
        raise ValueError("relevance corpus is invalid:\n  " + "\n  ".join(problems))
