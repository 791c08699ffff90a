"""The demo workspace ("Demo Co"): realistic, deterministic, and fast enough for 100,000 contacts.

:func:`seed_demo` builds one workspace with three teams, twelve users covering every role and
contact visibility (``domain.md`` terms and section 1), eight channels of different types, and
``contacts`` customers from a dozen countries with E.164 phone numbers, e-mails, channel
identities, conversations over the last 90 days, messages, calls, comments and the
conversation events (opened, closed, assigned, unassigned, blocked, call answered/ended/missed)
an inbox would have recorded. A few contacts share a phone number or an e-mail (merge
suggestions), a few are blocked, about 60 % are assigned.

It shows every rule of ``domain.md`` on first start (issue 22), written by the API's own rules
where the API has one, never a copy of them:

- unseen marks (section 3): each user last opened each inbox they have a while ago, and every
  open conversation with an inbound message since then carries the mark
  :func:`graph.resolvers.indicators.marked_tiers` gives that user (the live path's rule), so
  dots are lit for most users and tiers and equal their ``unseen`` lists;
- custom inboxes (section 2): private, shared with everyone, shared with a team and a user, by
  four creators, their filters checked by :func:`graph.resolvers.custom_inbox.clean_filter`;
- comments (section 6) with mentions as :func:`graph.resolvers.activity.add_comment` writes
  them: the markup (:func:`graph.resolvers.activity.mention`), ``data``
  (:func:`graph.resolvers.activity.comment_data`) and ``ActivityMention`` rows;
- blocked contacts with conversations and calls; calls of every final status (one contact
  has one of each); nobody on a call; calls ringing now for each audience of the incoming-call
  tabs (section 5: an unassigned contact, a contact of each restricted agent with call access,
  a contact of a user without call access), for :data:`DEMO_RING_TIMEOUT_SECONDS`;
- number masking on, with an owner (who sees numbers, ``graph.permissions.fields``).

Everything small (workspace, users, teams, channels) goes through the ORM; the large tables are
generated in memory in chunks of contacts and written in one transaction (``executemany`` on
SQLite, ``COPY`` on PostgreSQL), with primary keys assigned here (PostgreSQL sequences are moved
past them at the end). 100,000 contacts (about a million messages) take about a minute.
The same ``random_seed`` gives the same names, numbers and texts (timestamps are relative to the
moment of seeding).

Example:
    >>> logins = await seed_demo(2000)  # Tortoise initialised, migrations applied
    >>> logins[0].email, logins[0].password
    ('owner@demo.inbox-graph.test', 'demo-password')

:func:`create_workspace` (bootstrapping a real tenant and its owner) lives in ``db.tenants`` and
is re-exported here.
"""

from __future__ import annotations

import json
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import phonenumbers
from faker import Faker
from phonenumbers import PhoneNumberType
from tortoise.transactions import in_transaction

from db.models import (
    ActivityKind,
    CallDirection,
    CallStatus,
    Channel,
    ChannelType,
    ContactVisibility,
    ConversationStatus,
    CustomInbox,
    CustomInboxShare,
    CustomInboxSharing,
    RecordingState,
    Role,
    Team,
    TeamMembership,
    User,
    Workspace,
)
from db.security import hash_password
from db.tenants import create_workspace
from graph.auth import viewers_of_workspace
from graph.permissions.visibility import visible_standard_inboxes, visible_team_ids
from graph.resolvers.activity import comment_data, mention
from graph.resolvers.custom_inbox import clean_filter
from graph.resolvers.indicators import marked_tiers, team_key

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tortoise.backends.base.client import BaseDBAsyncClient

    from graph.permissions.visibility import Viewer

DEMO_WORKSPACE_NAME = "Demo Co"
DEMO_EMAIL_DOMAIN = "demo.inbox-graph.test"
DEMO_PASSWORD = "demo-password"

DAY = 86_400.0
HOUR = 3_600.0
MINUTE = 60.0
HISTORY_DAYS = 90
CHUNK_CONTACTS = 2_000
INSERT_BATCH = 5_000

ASSIGNED_RATE = 0.60
BLOCKED_RATE = 0.02
DUPLICATE_RATE = 0.02
OPEN_RATE = 0.40
COMMENT_RATE = 0.12
DEMO_RING_TIMEOUT_SECONDS = 300
"""The demo workspace's ring timeout: its seeded calls ring five minutes, long enough for a
newcomer to log in and answer one (any workspace may set up to 600 s)."""
SEEN_WINDOW = 8 * HOUR
"""Each demo user last opened each of their inboxes up to this many seconds before the seed."""


@dataclass(frozen=True)
class DemoLogin:
    """One demo user's credentials and what they may do (for the README and the CLI)."""

    email: str
    password: str
    role: str
    contact_visibility: str
    can_view_blocked_contacts: bool
    has_call_access: bool
    teams: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# The cast: teams, users, channels
# --------------------------------------------------------------------------------------------

TEAMS = ("Support", "Sales", "Billing")

# local part, role, visibility, may view blocked contacts, call access, teams, assignment weight
_USERS: tuple[tuple[str, Role, ContactVisibility, bool, bool, tuple[str, ...], int], ...] = (
    ("owner", Role.OWNER, ContactVisibility.ALL, True, True, (), 1),
    ("manager", Role.MANAGER, ContactVisibility.ALL, True, True, ("Support", "Billing"), 3),
    ("manager.sales", Role.MANAGER, ContactVisibility.ALL, False, True, ("Sales",), 3),
    ("agent.all", Role.AGENT, ContactVisibility.ALL, True, True, ("Support", "Sales"), 10),
    ("agent.team", Role.AGENT, ContactVisibility.TEAM, False, True, ("Support",), 10),
    ("agent.self", Role.AGENT, ContactVisibility.SELF, False, True, ("Support",), 10),
    ("agent.support", Role.AGENT, ContactVisibility.ALL, False, False, ("Support",), 10),
    ("agent.night", Role.AGENT, ContactVisibility.ALL, False, True, ("Support", "Billing"), 8),
    ("agent.sales", Role.AGENT, ContactVisibility.TEAM, False, True, ("Sales",), 10),
    ("agent.self.sales", Role.AGENT, ContactVisibility.SELF, False, True, ("Sales",), 8),
    ("agent.billing", Role.AGENT, ContactVisibility.TEAM, False, False, ("Billing", "Sales"), 10),
    ("agent.trainee", Role.AGENT, ContactVisibility.SELF, False, False, ("Billing",), 5),
)


def demo_emails() -> tuple[str, ...]:
    """The demo users' e-mail addresses, the owner first (each logs in with
    :data:`DEMO_PASSWORD`); offered on the live page's login form (:mod:`graph.page`)."""
    return tuple(f"{local}@{DEMO_EMAIL_DOMAIN}" for local, *_ in _USERS)


# type, name; calling channels get a business number, appended to the name
_CHANNELS: tuple[tuple[ChannelType, str], ...] = (
    (ChannelType.WHATSAPP, "WhatsApp Business"),
    (ChannelType.MESSENGER, "Facebook · Demo Co"),
    (ChannelType.INSTAGRAM, "Instagram @democo.official"),
    (ChannelType.EMAIL, f"E-mail support@{DEMO_EMAIL_DOMAIN}"),
    (ChannelType.SMS, "SMS"),
    (ChannelType.WEBCHAT, "Website chat (democo.test)"),
    (ChannelType.TELEGRAM, "Telegram @DemoCoBot"),
    (ChannelType.VOIP, "Main line"),
)
# The workspace's own numbers: (region, kind of number)
_CHANNEL_NUMBERS = {
    ChannelType.WHATSAPP: ("GB", PhoneNumberType.MOBILE),
    ChannelType.SMS: ("US", PhoneNumberType.MOBILE),
    ChannelType.VOIP: ("GB", PhoneNumberType.FIXED_LINE),
}

# How likely a contact is to use each channel (phone and e-mail channels need those fields).
_IDENTITY_WEIGHTS = {
    ChannelType.WHATSAPP: 45,
    ChannelType.SMS: 10,
    ChannelType.VOIP: 10,
    ChannelType.EMAIL: 22,
    ChannelType.MESSENGER: 14,
    ChannelType.INSTAGRAM: 10,
    ChannelType.WEBCHAT: 10,
    ChannelType.TELEGRAM: 5,
    ChannelType.VIBER: 4,
    ChannelType.LINE: 2,
}

_EXTERNAL_ID_PREFIX = {
    ChannelType.WHATSAPP: "wamid.",
    ChannelType.MESSENGER: "m_",
    ChannelType.INSTAGRAM: "ig_",
    ChannelType.EMAIL: "<",
    ChannelType.SMS: "SM",
    ChannelType.WEBCHAT: "wc_",
    ChannelType.TELEGRAM: "tg_",
    ChannelType.VIBER: "vb_",
    ChannelType.LINE: "ln_",
    ChannelType.VOIP: "vo_",
}

# --------------------------------------------------------------------------------------------
# Customers: where they come from
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Locale:
    faker: str
    country: str
    language: str
    text: str
    weight: int


_LOCALES = (
    _Locale("en_GB", "GB", "en-GB", "en", 22),
    _Locale("en_US", "US", "en-US", "en", 17),
    _Locale("fr_FR", "FR", "fr-FR", "fr", 12),
    _Locale("de_DE", "DE", "de-DE", "de", 10),
    _Locale("es_ES", "ES", "es-ES", "es", 8),
    _Locale("pt_BR", "BR", "pt-BR", "pt", 7),
    _Locale("it_IT", "IT", "it-IT", "it", 7),
    _Locale("nl_NL", "NL", "nl-NL", "nl", 6),
    _Locale("en_IE", "IE", "en-IE", "en", 3),
    _Locale("es_MX", "MX", "es-MX", "es", 3),
    _Locale("en_AU", "AU", "en-AU", "en", 2),
    _Locale("de_AT", "AT", "de-AT", "de", 2),
    _Locale("fr_BE", "BE", "fr-BE", "fr", 1),
)

_TRANSLITERATE = str.maketrans(
    {
        "ß": "ss",
        "ø": "o",
        "Ø": "O",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "þ": "th",
        "ı": "i",
    }
)

# --------------------------------------------------------------------------------------------
# What people write. ``{first}`` is the contact's first name, filled in when used.
# --------------------------------------------------------------------------------------------

_PRODUCTS = (
    "wireless headphones",
    "running shoes",
    "coffee grinder",
    "backpack",
    "smart watch",
    "desk lamp",
    "winter jacket",
    "phone case",
    "yoga mat",
    "espresso machine",
    "bluetooth speaker",
    "travel mug",
    "rain jacket",
    "standing desk",
    "kettle",
)

_TEXTS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "open": (
            "Hi, my order {order} still hasn't arrived. Can you check where it is?",
            "Hello! I think I was charged twice for order {order}.",
            "Hi there, is it still possible to change the delivery address for {order}?",
            "I'd like to return the {product} I bought last week. How do I do that?",
            "Is the {product} back in stock yet?",
            "Hi, I can't log in to my account, the password reset link doesn't work.",
            "Good morning, could I get an invoice for order {order} with my company details?",
            "The {product} arrived damaged. What should I do?",
            "Hi! Do you offer discounts for bulk orders?",
            "How long does a refund usually take?",
            "Can I cancel my subscription before the next billing date?",
            "Hello, I'm interested in the business plan. Could someone call me back?",
            "The tracking page says {order} was delivered but I haven't received anything.",
            "Hi, what are your opening hours at the weekend?",
            "My card was declined but the money has left my account.",
            "Can I pay by bank transfer?",
            "Hi, I received the wrong size of {product}. Can I exchange it?",
            "Hi, I have a question about my last invoice.",
            "Is there a warranty on the {product}?",
            "Hey, my discount code isn't working at checkout.",
            "I placed order {order} an hour ago, can I still add something to it?",
        ),
        "follow": (
            "Thanks!",
            "Ok, thank you for the quick reply.",
            "It's {order}.",
            "Yes, that's right.",
            "I've just sent the photos.",
            "Still nothing today unfortunately.",
            "Great, that works for me.",
            "Could you confirm that by email as well?",
            "Any update on this?",
            "Perfect, thanks a lot!",
            "No, it's still showing the old address.",
            "Tomorrow morning would be best.",
            "Here's a screenshot of the error.",
            "Sorry, one more question: is delivery free?",
            "Ok, I'll wait then.",
            "That's not what I was told last time…",
            "Brilliant 👍",
            "The postcode is correct, yes.",
            "Can I speak to someone on the phone?",
            "Done, it works now!",
            "I'd rather have a refund than a replacement.",
        ),
        "greet": (
            "Hi {first}, thanks for getting in touch! Let me look into that for you.",
            "Hello {first}, sorry to hear that. Could you send me your order number?",
            "Hi {first}! Happy to help. Give me a moment to check.",
            "Good morning {first}, thanks for your message. I'm checking with our warehouse now.",
            (
                "Hi {first}, thanks for reaching out to Demo Co. "
                "Can you confirm the email on your account?"
            ),
        ),
        "reply": (
            "I've just checked: your parcel is with the courier and should arrive {day}.",
            (
                "Your refund has been issued. "
                "It can take 3–5 business days to appear on your statement."
            ),
            "I've updated the delivery address on {order}.",
            "Could you send us a photo of the damaged item, please?",
            "I've forwarded this to our billing team; they'll get back to you within 24 hours.",
            "Here is your prepaid return label: https://democo.test/returns/{code}",
            "The {product} is expected back in stock {day}. Shall I reserve one for you?",
            "I've sent you a new password reset link, it's valid for 30 minutes.",
            "Yes, we accept bank transfers for orders over £100.",
            "I've added a 10% discount to your next order as an apology.",
            "Your subscription is cancelled; you keep access until the end of the billing period.",
            "A colleague from our sales team will call you {day}.",
            "That code expired last week, but here is a new one: DEMO{code}",
        ),
        "bye": (
            "Is there anything else I can help you with?",
            "You're welcome, have a great day!",
            "Glad we could sort it out. Take care!",
            "Thanks for your patience, {first}!",
            "I'll close this conversation for now, just reply here if you need anything.",
        ),
        "day": (
            "tomorrow",
            "on Monday",
            "on Tuesday",
            "by Friday",
            "later today",
            "early next week",
        ),
    },
    "fr": {
        "open": (
            "Bonjour, ma commande {order} n'est toujours pas arrivée.",
            "Bonjour, j'ai été débité deux fois pour la commande {order}.",
            "Est-il encore possible de modifier l'adresse de livraison de {order} ?",
            "Bonjour, je souhaite retourner un article, comment faire ?",
            "Bonsoir, je n'arrive plus à me connecter à mon compte.",
            "Pourriez-vous m'envoyer la facture de la commande {order} ?",
            "Le colis est arrivé abîmé, que dois-je faire ?",
            "Combien de temps prend un remboursement ?",
        ),
        "follow": (
            "Merci !",
            "D'accord, merci pour votre réponse rapide.",
            "C'est la commande {order}.",
            "Oui, c'est bien ça.",
            "Toujours rien aujourd'hui…",
            "Parfait, merci beaucoup !",
            "Je vous envoie les photos.",
            "Vous pouvez me rappeler demain matin ?",
        ),
        "greet": (
            "Bonjour {first}, merci pour votre message ! Je regarde ça tout de suite.",
            (
                "Bonjour {first}, désolé pour ce désagrément. "
                "Pouvez-vous me donner votre numéro de commande ?"
            ),
            "Bonjour {first}, je vérifie auprès de notre entrepôt.",
        ),
        "reply": (
            "Votre colis est chez le transporteur et devrait arriver {day}.",
            "Le remboursement a été effectué, comptez 3 à 5 jours ouvrés.",
            "J'ai mis à jour l'adresse de livraison de {order}.",
            "Pouvez-vous nous envoyer une photo de l'article endommagé ?",
            "Voici votre étiquette de retour : https://democo.test/returns/{code}",
            "J'ai transmis votre demande au service facturation.",
        ),
        "bye": (
            "Puis-je vous aider pour autre chose ?",
            "Avec plaisir, bonne journée !",
            "Merci pour votre patience, {first} !",
        ),
        "day": ("demain", "lundi", "d'ici vendredi", "en début de semaine prochaine"),
    },
    "de": {
        "open": (
            "Hallo, meine Bestellung {order} ist immer noch nicht angekommen.",
            "Guten Tag, mir wurde die Bestellung {order} doppelt berechnet.",
            "Kann ich die Lieferadresse für {order} noch ändern?",
            "Ich möchte einen Artikel zurückschicken. Wie funktioniert das?",
            "Ich kann mich nicht mehr in mein Konto einloggen.",
            "Könnten Sie mir eine Rechnung für {order} schicken?",
            "Das Paket kam beschädigt an. Was soll ich tun?",
            "Wie lange dauert eine Rückerstattung?",
        ),
        "follow": (
            "Danke!",
            "Alles klar, vielen Dank für die schnelle Antwort.",
            "Es ist die Bestellung {order}.",
            "Ja, genau.",
            "Heute ist immer noch nichts gekommen.",
            "Super, vielen Dank!",
            "Ich schicke Ihnen gleich die Fotos.",
            "Können Sie mich morgen früh anrufen?",
        ),
        "greet": (
            "Hallo {first}, danke für Ihre Nachricht! Ich schaue mir das gleich an.",
            "Hallo {first}, das tut mir leid. Können Sie mir Ihre Bestellnummer schicken?",
            "Guten Tag {first}, ich frage kurz bei unserem Lager nach.",
        ),
        "reply": (
            "Ihr Paket ist beim Versanddienstleister und sollte {day} ankommen.",
            "Die Rückerstattung ist veranlasst, das dauert 3–5 Werktage.",
            "Ich habe die Lieferadresse für {order} aktualisiert.",
            "Könnten Sie uns ein Foto des beschädigten Artikels schicken?",
            "Hier ist Ihr Rücksendeetikett: https://democo.test/returns/{code}",
            "Ich habe Ihre Anfrage an die Buchhaltung weitergeleitet.",
        ),
        "bye": (
            "Kann ich sonst noch etwas für Sie tun?",
            "Gern geschehen, einen schönen Tag noch!",
            "Danke für Ihre Geduld, {first}!",
        ),
        "day": ("morgen", "am Montag", "bis Freitag", "Anfang nächster Woche"),
    },
    "es": {
        "open": (
            "Hola, mi pedido {order} todavía no ha llegado.",
            "Buenas, me han cobrado dos veces el pedido {order}.",
            "¿Puedo cambiar la dirección de entrega del pedido {order}?",
            "Quiero devolver un artículo, ¿cómo lo hago?",
            "No puedo entrar en mi cuenta.",
            "¿Me podéis enviar la factura del pedido {order}?",
            "El paquete llegó dañado, ¿qué hago?",
            "¿Cuánto tarda un reembolso?",
        ),
        "follow": (
            "¡Gracias!",
            "Vale, gracias por la respuesta tan rápida.",
            "Es el pedido {order}.",
            "Sí, eso es.",
            "Hoy tampoco ha llegado nada…",
            "¡Perfecto, muchas gracias!",
            "Ahora os mando las fotos.",
            "¿Me podéis llamar mañana por la mañana?",
        ),
        "greet": (
            "Hola {first}, ¡gracias por escribirnos! Lo reviso ahora mismo.",
            "Hola {first}, sentimos las molestias. ¿Nos indicas tu número de pedido?",
            "Buenos días {first}, lo consulto con el almacén.",
        ),
        "reply": (
            "Tu paquete está en reparto y debería llegar {day}.",
            "Hemos hecho el reembolso; tardará de 3 a 5 días hábiles.",
            "He actualizado la dirección de entrega del pedido {order}.",
            "¿Nos puedes enviar una foto del artículo dañado?",
            "Aquí tienes la etiqueta de devolución: https://democo.test/returns/{code}",
            "He pasado tu consulta al equipo de facturación.",
        ),
        "bye": (
            "¿Puedo ayudarte en algo más?",
            "¡De nada, que tengas un buen día!",
            "¡Gracias por tu paciencia, {first}!",
        ),
        "day": ("mañana", "el lunes", "antes del viernes", "a principios de la semana que viene"),
    },
    "pt": {
        "open": (
            "Oi, meu pedido {order} ainda não chegou.",
            "Olá, fui cobrado duas vezes pelo pedido {order}.",
            "Ainda dá para mudar o endereço de entrega do pedido {order}?",
            "Quero devolver um produto, como faço?",
            "Não consigo entrar na minha conta.",
            "Vocês podem me mandar a nota fiscal do pedido {order}?",
            "O pacote chegou danificado, o que eu faço?",
            "Quanto tempo demora o reembolso?",
        ),
        "follow": (
            "Obrigado!",
            "Beleza, obrigado pela resposta rápida.",
            "É o pedido {order}.",
            "Isso mesmo.",
            "Hoje também não chegou nada…",
            "Perfeito, muito obrigado!",
            "Vou mandar as fotos agora.",
            "Vocês podem me ligar amanhã de manhã?",
        ),
        "greet": (
            "Oi {first}, obrigado pela mensagem! Vou verificar agora.",
            "Olá {first}, sentimos muito. Pode me passar o número do pedido?",
            "Bom dia {first}, vou confirmar com o nosso estoque.",
        ),
        "reply": (
            "Seu pacote está com a transportadora e deve chegar {day}.",
            "O reembolso foi feito; leva de 3 a 5 dias úteis.",
            "Atualizei o endereço de entrega do pedido {order}.",
            "Pode nos mandar uma foto do produto danificado?",
            "Aqui está a etiqueta de devolução: https://democo.test/returns/{code}",
            "Encaminhei sua solicitação para o financeiro.",
        ),
        "bye": (
            "Posso ajudar em mais alguma coisa?",
            "Por nada, tenha um ótimo dia!",
            "Obrigado pela paciência, {first}!",
        ),
        "day": ("amanhã", "na segunda-feira", "até sexta", "no começo da semana que vem"),
    },
    "it": {
        "open": (
            "Buongiorno, il mio ordine {order} non è ancora arrivato.",
            "Salve, mi è stato addebitato due volte l'ordine {order}.",
            "Posso ancora cambiare l'indirizzo di consegna dell'ordine {order}?",
            "Vorrei restituire un articolo, come posso fare?",
            "Non riesco ad accedere al mio account.",
            "Potete inviarmi la fattura dell'ordine {order}?",
            "Il pacco è arrivato danneggiato, cosa devo fare?",
            "Quanto tempo ci vuole per un rimborso?",
        ),
        "follow": (
            "Grazie!",
            "Va bene, grazie per la risposta veloce.",
            "È l'ordine {order}.",
            "Sì, esatto.",
            "Anche oggi non è arrivato niente…",
            "Perfetto, grazie mille!",
            "Vi mando subito le foto.",
            "Potete richiamarmi domani mattina?",
        ),
        "greet": (
            "Ciao {first}, grazie per averci scritto! Controllo subito.",
            "Buongiorno {first}, ci scusiamo per il disagio. Mi indica il numero d'ordine?",
            "Salve {first}, verifico con il nostro magazzino.",
        ),
        "reply": (
            "Il pacco è in consegna e dovrebbe arrivare {day}.",
            "Il rimborso è stato effettuato, ci vogliono 3-5 giorni lavorativi.",
            "Ho aggiornato l'indirizzo di consegna dell'ordine {order}.",
            "Può inviarci una foto dell'articolo danneggiato?",
            "Ecco l'etichetta per il reso: https://democo.test/returns/{code}",
            "Ho inoltrato la richiesta all'ufficio fatturazione.",
        ),
        "bye": (
            "Posso aiutarla in altro?",
            "Prego, buona giornata!",
            "Grazie per la pazienza, {first}!",
        ),
        "day": ("domani", "lunedì", "entro venerdì", "all'inizio della prossima settimana"),
    },
    "nl": {
        "open": (
            "Hoi, mijn bestelling {order} is nog steeds niet binnen.",
            "Goedemiddag, ik heb twee keer betaald voor bestelling {order}.",
            "Kan ik het bezorgadres van {order} nog wijzigen?",
            "Ik wil een artikel retourneren, hoe werkt dat?",
            "Ik kan niet meer inloggen op mijn account.",
            "Kunnen jullie mij de factuur van {order} sturen?",
            "Het pakket is beschadigd aangekomen, wat moet ik doen?",
            "Hoe lang duurt een terugbetaling?",
        ),
        "follow": (
            "Bedankt!",
            "Oké, bedankt voor het snelle antwoord.",
            "Het is bestelling {order}.",
            "Ja, klopt.",
            "Vandaag is er nog steeds niets gekomen…",
            "Top, heel erg bedankt!",
            "Ik stuur de foto's zo door.",
            "Kunnen jullie me morgenochtend bellen?",
        ),
        "greet": (
            "Hoi {first}, bedankt voor je bericht! Ik kijk het meteen na.",
            "Hallo {first}, vervelend om te horen. Wat is je bestelnummer?",
            "Goedemorgen {first}, ik vraag het even na bij ons magazijn.",
        ),
        "reply": (
            "Je pakket is onderweg en komt naar verwachting {day} aan.",
            "De terugbetaling is verwerkt, dat duurt 3 tot 5 werkdagen.",
            "Ik heb het bezorgadres van {order} aangepast.",
            "Kun je een foto van het beschadigde artikel sturen?",
            "Hier is je retourlabel: https://democo.test/returns/{code}",
            "Ik heb je vraag doorgestuurd naar de financiële afdeling.",
        ),
        "bye": (
            "Kan ik je nog ergens anders mee helpen?",
            "Graag gedaan, fijne dag nog!",
            "Bedankt voor je geduld, {first}!",
        ),
        "day": ("morgen", "maandag", "voor vrijdag", "begin volgende week"),
    },
}

_CLOSING_NOTES: dict[str, tuple[str, ...]] = {
    "Order status": (
        "Shared the tracking link; parcel due {day}.",
        "Order confirmed as dispatched, customer happy.",
    ),
    "Delivery issue": (
        "Parcel lost by the courier, replacement sent.",
        "Address corrected before dispatch.",
    ),
    "Returns & exchanges": (
        "Return label sent; exchange for another size.",
        "Return received, exchange shipped.",
    ),
    "Refund": (
        "Refund of {amount} issued to the original payment method.",
        "Double charge refunded.",
    ),
    "Billing": (
        "Invoice with company details sent by e-mail.",
        "Explained the pro-rata charge on the last invoice.",
    ),
    "Account access": (
        "Password reset link re-sent; customer logged in.",
        "Two-factor reset after an identity check.",
    ),
    "Product question": (
        "Answered a sizing question; no order yet.",
        "Explained the warranty terms (2 years).",
    ),
    "Sales lead": ("Interested in the business plan, demo booked.", "Quote for 50 units sent."),
    "Complaint": ("Apologised and offered a 10% voucher.", "Escalated to the team lead."),
    "Spam": ("Promotional message, no action.",),
}

_COMMENTS = (
    "Customer prefers WhatsApp over e-mail.",
    "VIP customer, more than 20 orders so far.",
    "Waiting for the warehouse to confirm {order}.",
    "Asked for photos of the damaged item.",
    "Refund approved by finance.",
    "Called back, no answer. Will try again tomorrow.",
    "Possible duplicate: same phone number as another contact.",
    "Prefers to be contacted in the afternoon.",
    "Promised a call back before Friday.",
    "Second delivery problem this month, keep an eye on it.",
)
_MENTION_COMMENTS = (
    "@{mention} can you check the refund status for {order}?",
    "@{mention} this one is for billing, could you take over?",
    "Escalating to @{mention}, the customer asked for a manager.",
    "@{mention} FYI, second complaint this month.",
    "@{mention} could you confirm the stock for next week?",
    "Thanks @{mention}, all sorted now.",
    "@{mention} and @{mention2} please agree on the replacement for {order}.",
)


# --------------------------------------------------------------------------------------------
# Pools: everything expensive (faker, phonenumbers) is done a few hundred times, not per row
# --------------------------------------------------------------------------------------------


@dataclass
class _LocalePool:
    locale: _Locale
    first_names: list[str]
    last_names: list[str]
    free_domains: list[str]
    company_domains: list[str]
    country_code: int
    phone_prefixes: list[str]
    texts: dict[str, list[str]]


def _ascii_slug(value: str) -> str:
    """Lower-case ASCII letters and digits of ``value`` ("Jean-Loïc Müller" -> "jeanloicmuller")."""
    value = unicodedata.normalize("NFKD", value.translate(_TRANSLITERATE))
    return "".join(ch for ch in value.encode("ascii", "ignore").decode().lower() if ch.isalnum())


def _mobile_prefixes(region: str, rng: random.Random, count: int = 150) -> tuple[int, list[str]]:
    """Valid mobile numbers of ``region`` without their last 4 digits (which any value completes).

    Numbers are drawn at random after the first digit of the region's example mobile number and
    kept when phonenumbers says they are valid mobile (or fixed-or-mobile) numbers of the region.
    """
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    national = phonenumbers.national_significant_number(example)
    kinds = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
    prefixes: set[str] = {national[:-4]}
    for _ in range(count * 50):
        if len(prefixes) >= count:
            break
        candidate = national[0] + "".join(str(rng.randrange(10)) for _ in national[1:])
        number = phonenumbers.PhoneNumber(
            country_code=example.country_code, national_number=int(candidate)
        )
        if (
            phonenumbers.is_valid_number_for_region(number, region)
            and phonenumbers.number_type(number) in kinds
        ):
            prefixes.add(candidate[:-4])
    return example.country_code, sorted(prefixes)


def _business_number(region: str, kind: PhoneNumberType, rng: random.Random) -> str:
    """A valid E.164 number of ``region`` and ``kind``: its example number, other last digits."""
    example = phonenumbers.example_number_for_type(region, kind)
    national = phonenumbers.national_significant_number(example)
    for _ in range(200):
        candidate = national[:-4] + f"{rng.randrange(10_000):04d}"
        number = phonenumbers.PhoneNumber(
            country_code=example.country_code, national_number=int(candidate)
        )
        if phonenumbers.is_valid_number_for_region(number, region):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


def _fill(template: str, rng: random.Random, days: Sequence[str]) -> str:
    return (
        template.replace("{order}", f"#DC-{rng.randrange(100_000, 1_000_000)}")
        .replace("{product}", rng.choice(_PRODUCTS))
        .replace("{day}", rng.choice(days))
        .replace("{code}", f"{rng.getrandbits(32):08X}")
    )


def demo_text(rng: random.Random, kind: str, first_name: str | None = None) -> str:
    """One line of the demo's English texts, filled in: ``kind`` ``"open"`` or ``"follow"``
    (a customer writes), ``"greet"``, ``"reply"`` or ``"bye"`` (an agent answers
    ``first_name``)."""
    source = _TEXTS["en"]
    text = _fill(rng.choice(source[kind]), rng, source["day"])
    return text.replace("{first}", first_name or "there")


def closing_notes(rng: random.Random) -> tuple[str, str]:
    """A closing category and summary like the seeded conversations'."""
    category = rng.choice(tuple(_CLOSING_NOTES))
    summary = _fill(rng.choice(_CLOSING_NOTES[category]), rng, _TEXTS["en"]["day"])
    return category, summary.replace(
        "{amount}", f"£{rng.randrange(8, 400)}.{rng.randrange(100):02d}"
    )


def _text_pools(lang: str, rng: random.Random) -> dict[str, list[str]]:
    source = _TEXTS[lang]
    days = source["day"]
    pools = {}
    for kind in ("open", "follow", "greet", "reply", "bye"):
        size = max(60, len(source[kind]) * 8)
        pools[kind] = [_fill(rng.choice(source[kind]), rng, days) for _ in range(size)]
    return pools


def _build_pools(rng: random.Random, seed: int) -> list[_LocalePool]:
    pools = []
    texts = {lang: _text_pools(lang, rng) for lang in sorted(_TEXTS)}
    for index, locale in enumerate(_LOCALES):
        fake = Faker(locale.faker)
        fake.seed_instance(seed * 1_000 + index)
        first_names = sorted({fake.first_name() for _ in range(400)})
        last_names = sorted({fake.last_name() for _ in range(400)})
        free_domains = sorted({fake.free_email_domain() for _ in range(40)})
        company_domains = sorted({fake.domain_name() for _ in range(30)})
        country_code, prefixes = _mobile_prefixes(locale.country, rng)
        pools.append(
            _LocalePool(
                locale,
                first_names,
                last_names,
                free_domains,
                company_domains,
                country_code,
                prefixes,
                texts[locale.text],
            )
        )
    return pools


# --------------------------------------------------------------------------------------------
# Writing rows
# --------------------------------------------------------------------------------------------

_COLUMNS: dict[str, tuple[str, ...]] = {
    "contact": (
        "id",
        "workspace_id",
        "first_name",
        "last_name",
        "phone",
        "email",
        "email_normalized",
        "country_code",
        "language",
        "assignee_id",
        "blocked",
        "created_at",
        "updated_at",
    ),
    "channel_identity": ("id", "workspace_id", "contact_id", "channel_id", "handle", "created_at"),
    "conversation": (
        "id",
        "workspace_id",
        "contact_id",
        "open_contact_id",
        "status",
        "last_message_id",
        "last_channel_id",
        "last_activity_at",
        "last_inbound_at",
        "closing_category",
        "closing_summary",
        "opened_at",
        "closed_at",
    ),
    "message": (
        "id",
        "workspace_id",
        "conversation_id",
        "contact_id",
        "channel_id",
        "direction",
        "author_id",
        "text",
        "delivery_status",
        "external_message_id",
        "created_at",
    ),
    "activity": (
        "id",
        "workspace_id",
        "contact_id",
        "conversation_id",
        "kind",
        "author_id",
        "text",
        "data",
        "created_at",
    ),
    "call": (
        "id",
        "workspace_id",
        "contact_id",
        "channel_id",
        "direction",
        "status",
        "answered_by_id",
        "ongoing_user_id",
        "from_number",
        "to_number",
        "external_call_id",
        "ringing_at",
        "answered_at",
        "ended_at",
        "recording_state",
        "recording_id",
    ),
    "activity_mention": ("id", "activity_id", "user_id"),
    "inbox_seen_state": ("id", "user_id", "inbox_key", "seen_at"),
    "unseen_mark": ("id", "user_id", "inbox_key", "conversation_id", "marked_at"),
}
# Parents before children (foreign keys are checked row by row).
_TABLE_ORDER = (
    "contact",
    "channel_identity",
    "conversation",
    "message",
    "activity",
    "activity_mention",
    "call",
    "inbox_seen_state",
    "unseen_mark",
)


class _Writer:
    """Buffers rows per table and writes them on one (transaction's) connection.

    Rows hold Python values: aware ``datetime`` objects (the sqlite3 adapter tortoise registers
    stores ``isoformat(" ")`` text, exactly what the ORM writes; asyncpg sends timestamptz),
    enum values as their strings, JSON as text.
    """

    def __init__(self, connection: BaseDBAsyncClient) -> None:
        self.connection = connection
        self.dialect = connection.capabilities.dialect
        self.rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in _TABLE_ORDER}
        self.counts: dict[str, int] = dict.fromkeys(_TABLE_ORDER, 0)
        self.next_ids: dict[str, int] = {}
        self._sql: dict[str, str] = {}
        for table, columns in _COLUMNS.items():
            if self.dialect == "postgres":
                marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
            else:
                marks = ", ".join("?" for _ in columns)
            names = ", ".join(f'"{column}"' for column in columns)
            self._sql[table] = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'

    async def reserve_ids(self) -> None:
        """Start each table's ids after its current maximum."""
        for table in _TABLE_ORDER:
            rows = await self.connection.execute_query_dict(
                f'SELECT COALESCE(MAX("id"), 0) AS top FROM "{table}"'
            )
            self.next_ids[table] = int(rows[0]["top"]) + 1

    def new_id(self, table: str) -> int:
        value = self.next_ids[table]
        self.next_ids[table] = value + 1
        return value

    async def flush(self) -> None:
        """Write the buffered rows, parents first, and forget them.

        On PostgreSQL the rows go through ``COPY`` on the transaction's asyncpg connection
        (several times faster than ``executemany``); tortoise does not expose that connection
        publicly, so the attribute is looked up defensively and ``executemany`` is the fallback.
        """
        raw = getattr(self.connection, "_connection", None)
        copy = getattr(raw, "copy_records_to_table", None) if self.dialect == "postgres" else None
        for table in _TABLE_ORDER:
            rows = self.rows[table]
            if rows and copy is not None:
                await copy(table, records=rows, columns=_COLUMNS[table])
            else:
                for start in range(0, len(rows), INSERT_BATCH):
                    await self.connection.execute_many(
                        self._sql[table], rows[start : start + INSERT_BATCH]
                    )
            self.counts[table] += len(rows)
            self.rows[table] = []

    async def reset_sequences(self) -> None:
        """Move PostgreSQL's id sequences past the ids assigned here (SQLite needs nothing)."""
        if self.dialect != "postgres":
            return
        for table in _TABLE_ORDER:
            await self.connection.execute_query(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                f'(SELECT COALESCE(MAX("id"), 0) + 1 FROM "{table}"), false)'
            )

    async def analyze(self) -> None:
        """Give the planner statistics now (PostgreSQL would wait for the next autovacuum,
        SQLite has none until asked): without them SQLite may walk a workspace index instead of
        seeking a primary key on a 100,000-contact workspace."""
        if self.dialect != "postgres":
            await self.connection.execute_script("ANALYZE")
            return
        for table in _TABLE_ORDER:
            await self.connection.execute_script(f'ANALYZE "{table}"')


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


@dataclass
class _Member:
    id: int
    name: str
    role: Role
    visibility: ContactVisibility
    can_view_blocked: bool
    has_call_access: bool
    teams: tuple[str, ...]
    weight: int
    viewer: Viewer | None = None  # the user as the policy sees them (set once teams exist)

    @property
    def unrestricted(self) -> bool:
        return self.role is not Role.AGENT or self.visibility is ContactVisibility.ALL


@dataclass
class _ChannelInfo:
    id: int
    type: ChannelType
    number: str | None
    prefix: str


@dataclass
class _Person:
    """What a later duplicate contact may copy."""

    pool: _LocalePool
    first: str
    last: str
    phone: str | None
    email: str | None


@dataclass
class _CallCandidate:
    contact_id: int
    phone: str
    assignee_id: int | None
    channels: list[_ChannelInfo]
    open_conversation_id: int | None


@dataclass
class _History:
    """One contact's history while it is generated."""

    contact_id: int
    first_name: str
    texts: dict[str, list[str]]
    assignee: _Member | None
    messaging: list[_ChannelInfo]
    blocked: bool = False
    created_at: float = 0.0
    changed_at: float = 0.0  # the contact row's updated_at
    assignee_recorded: bool = False  # the current assignee's CONTACT_ASSIGNED is written
    last_message_at: float = 0.0
    open_conversation_id: int | None = None
    intervals: list[tuple[float, float, int]] = field(default_factory=list)


@dataclass
class _Stats:
    contacts: int = 0
    messages: int = 0
    calls: int = 0
    call_statuses: dict[str, int] = field(default_factory=dict)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class _DemoBuilder:
    """Generates the rows of the large tables, contact by contact, into a :class:`_Writer`."""

    def __init__(
        self,
        *,
        rng: random.Random,
        pools: list[_LocalePool],
        writer: _Writer,
        workspace_id: int,
        members: list[_Member],
        channels: list[_ChannelInfo],
        contacts: int,
        messages_per_contact: float,
        now: datetime,
        ring_timeout: int,
    ) -> None:
        self.rng = rng
        self.pools = pools
        self.pool_weights = [pool.locale.weight for pool in pools]
        self.writer = writer
        self.workspace_id = workspace_id
        self.members = members
        self.by_id = {member.id: member for member in members}
        self.channels = channels
        self.by_type = {channel.type: channel for channel in channels}
        self.contacts = contacts
        self.now = now.timestamp()
        self.start = self.now - HISTORY_DAYS * DAY
        self.ring_timeout = ring_timeout
        # conversations per contact: 1 (55 %), 2 (30 %), 3 (15 %)
        self.messages_per_conversation = max(0.0, messages_per_contact) / 1.6
        self.assignees = members
        self.assignee_weights = [member.weight for member in members]
        self.unrestricted = [member for member in members if member.unrestricted]
        self.admins = [member for member in members if member.role is not Role.AGENT]
        self.blockers = [member for member in members if member.can_view_blocked]
        self.callers = [member for member in members if member.has_call_access]
        self.unrestricted_callers = [m for m in self.callers if m.unrestricted]
        # who else may reply to a contact assigned to someone: unrestricted users and TEAM
        # agents who share a team with the assignee
        self.co_handlers = {
            member.id: [
                other
                for other in members
                if other.id != member.id
                and (
                    other.unrestricted
                    or (
                        other.visibility is ContactVisibility.TEAM
                        and set(other.teams) & set(member.teams)
                    )
                )
            ]
            for member in members
        }
        self.used_handles: set[tuple[int, str]] = set()
        self.used_phones: set[str] = set()
        self.used_emails: set[str] = set()
        self.people: list[_Person] = []
        self.call_candidates: list[_CallCandidate] = []
        self.stats = _Stats()
        total_calls = max(50, contacts // 6)
        self.calls_left = total_calls  # plus the ringing ones (:meth:`ringing_calls_now`)
        self.blocked_with_calls = 0
        # open conversations with an inbound message since the earliest "last seen" of any
        # inbox: (conversation id, assignee id, blocked, last inbound message time)
        self.unread: list[tuple[int, int | None, bool, float]] = []
        self.forced_statuses = [
            CallStatus.ENDED,
            CallStatus.MISSED,
            CallStatus.DECLINED,
            CallStatus.FAILED,
        ]
        self.contacts_left = contacts
        self.eligible_seen = 0
        self.seen = 0

    # -- small helpers -----------------------------------------------------------------------

    def _hex(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def _external_id(self, channel: _ChannelInfo) -> str:
        if channel.type is ChannelType.EMAIL:
            return f"<{self._hex()}@mail.{DEMO_EMAIL_DOMAIN}>"
        return channel.prefix + self._hex()

    def _activity(
        self,
        contact_id: int,
        conversation_id: int | None,
        kind: ActivityKind,
        author_id: int | None,
        ts: float,
        data: dict[str, Any] | None = None,
        text: str | None = None,
    ) -> int:
        activity_id = self.writer.new_id("activity")
        self.writer.rows["activity"].append(
            (
                activity_id,
                self.workspace_id,
                contact_id,
                conversation_id,
                kind.value,
                author_id,
                text,
                json.dumps(data or {}, separators=(",", ":")),
                _utc(ts),
            )
        )
        return activity_id

    def _new_phone(self, pool: _LocalePool) -> str:
        rng = self.rng
        region = pool.locale.country
        for _ in range(50):
            national = rng.choice(pool.phone_prefixes) + f"{rng.randrange(10_000):04d}"
            e164 = f"+{pool.country_code}{national}"
            if e164 in self.used_phones:
                continue
            number = phonenumbers.PhoneNumber(
                country_code=pool.country_code, national_number=int(national)
            )
            if phonenumbers.is_valid_number_for_region(number, region):
                self.used_phones.add(e164)
                return e164
        raise RuntimeError(f"could not draw a fresh valid phone number for {region}")

    def _new_email(self, pool: _LocalePool, first: str, last: str) -> str:
        rng = self.rng
        f, s = _ascii_slug(first) or "customer", _ascii_slug(last) or "demo"
        pattern = rng.random()
        if pattern < 0.40:
            local = f"{f}.{s}"
        elif pattern < 0.55:
            local = f"{f}{s}"
        elif pattern < 0.70:
            local = f"{f[0]}{s}"
        elif pattern < 0.85:
            local = f"{f}.{s}{rng.randrange(10, 100)}"
        elif pattern < 0.90:
            local = f"{f}_{s}"
        elif pattern < 0.95:
            local = f"{s}.{f}"
        else:
            local = f"{f}{rng.randrange(1960, 2006)}"
        domains = pool.company_domains if rng.random() < 0.2 else pool.free_domains
        email = f"{local}@{rng.choice(domains)}"
        while email in self.used_emails:
            email = f"{local}{rng.randrange(1, 1000)}@{rng.choice(domains)}"
        self.used_emails.add(email)
        if rng.random() < 0.04:  # some people type capitals; email_normalized is lower-case
            local_part, domain = email.split("@")
            email = ".".join(part.capitalize() for part in local_part.split(".")) + "@" + domain
        return email

    @staticmethod
    def _case_variant(email: str) -> str:
        """The same address with different capitals (never equal to ``email``)."""
        if email != email.lower():
            return email.lower()
        local_part, domain = email.split("@")
        variant = ".".join(part.capitalize() for part in local_part.split(".")) + "@" + domain
        return variant if variant != email else email.upper()

    def _pick_identities(self, phone: str | None, email: str | None) -> list[_ChannelInfo]:
        rng = self.rng
        candidates = []
        for channel in self.channels:
            if channel.type.handle_is_phone and not phone:
                continue
            if channel.type.handle_is_email and not email:
                continue
            candidates.append(channel)
        want = rng.choices((1, 2, 3), cum_weights=(50, 85, 100))[0]
        chosen: list[_ChannelInfo] = []
        while candidates and len(chosen) < want:
            weights = [_IDENTITY_WEIGHTS[channel.type] for channel in candidates]
            channel = rng.choices(candidates, weights)[0]
            candidates.remove(channel)
            chosen.append(channel)
        if all(channel.type is ChannelType.VOIP for channel in chosen):
            messaging = [c for c in candidates if c.type is not ChannelType.VOIP]
            if messaging:
                chosen.append(rng.choice(messaging))
        return chosen

    def _handle(self, channel: _ChannelInfo, phone: str | None, email: str | None) -> str:
        rng = self.rng
        if channel.type.handle_is_phone:
            return phone  # type: ignore[return-value]
        if channel.type.handle_is_email:
            return email.lower()  # type: ignore[union-attr]
        if channel.type is ChannelType.MESSENGER:
            return f"psid:{rng.randrange(10**15, 10**16)}"
        if channel.type is ChannelType.INSTAGRAM:
            return f"igsid:{rng.randrange(10**16, 10**17)}"
        if channel.type is ChannelType.TELEGRAM:
            return f"tg:{rng.randrange(10**8, 10**10)}"
        return f"visitor:{rng.getrandbits(64):016x}"

    # -- one contact -------------------------------------------------------------------------

    def add_contact(self, *, blocked: bool, duplicate_kind: str | None) -> None:
        """One customer with identities, history and maybe calls.

        Args:
            blocked: whether the contact ends up blocked.
            duplicate_kind: ``"phone"``, ``"email"`` or ``"email_case"`` to share that field
                with an earlier contact (a merge suggestion), else ``None``.
        """
        rng = self.rng
        writer = self.writer
        contact_id = writer.new_id("contact")
        original = None
        if duplicate_kind and self.people:
            wanted = "phone" if duplicate_kind == "phone" else "email"
            for _ in range(20):
                person = rng.choice(self.people)
                if getattr(person, wanted):
                    original = person
                    break
        if original is None:
            duplicate_kind = None
            pool = rng.choices(self.pools, self.pool_weights)[0]
            first, last = rng.choice(pool.first_names), rng.choice(pool.last_names)
            phone = self._new_phone(pool) if rng.random() < 0.96 else None
            email = self._new_email(pool, first, last) if rng.random() < 0.90 else None
            if phone is None and email is None and rng.random() < 0.5:
                email = self._new_email(pool, first, last)
        else:
            pool = original.pool
            first, last = original.first, original.last
            phone, email = None, None
            if duplicate_kind == "phone":
                # the same person through another channel, or a relative sharing the number
                phone = original.phone or self._new_phone(pool)
                if rng.random() < 0.5:
                    first = rng.choice(pool.first_names)
                elif original.email:
                    email = original.email
            else:
                base = original.email or self._new_email(pool, first, last)
                email = self._case_variant(base) if duplicate_kind == "email_case" else base
                if rng.random() < 0.3:
                    phone = self._new_phone(pool)
        self.people.append(_Person(pool, first, last, phone, email))

        locale = pool.locale
        country = locale.country if phone or rng.random() < 0.5 else None
        roll = rng.random()
        language = (
            None
            if roll < 0.02
            else (locale.language if roll < 0.75 else locale.language.split("-")[0])
        )
        assignee = (
            rng.choices(self.assignees, self.assignee_weights)[0]
            if rng.random() < ASSIGNED_RATE
            else None
        )

        identities = []
        for channel in self._pick_identities(phone, email):
            handle = self._handle(channel, phone, email)
            key = (channel.id, handle)
            if key in self.used_handles:  # a shared phone or e-mail: that channel is taken
                continue
            self.used_handles.add(key)
            identities.append((channel, handle))
        if blocked and phone and not any(c.type.supports_calls for c, _ in identities):
            # blocked callers are what the blocked inbox's call log is for
            for calling in (self.by_type[ChannelType.WHATSAPP], self.by_type[ChannelType.VOIP]):
                if (calling.id, phone) not in self.used_handles:
                    self.used_handles.add((calling.id, phone))
                    identities.append((calling, phone))
                    break
        if not any(channel.type is not ChannelType.VOIP for channel, _ in identities):
            webchat = self.by_type[ChannelType.WEBCHAT]
            handle = self._handle(webchat, phone, email)
            self.used_handles.add((webchat.id, handle))
            identities.append((webchat, handle))
        messaging = [channel for channel, _ in identities if channel.type is not ChannelType.VOIP]

        history = self._history(contact_id, pool, first, assignee, blocked, messaging)
        writer.rows["contact"].append(
            (
                contact_id,
                self.workspace_id,
                first,
                last,
                phone,
                email,
                email.lower() if email else None,
                country,
                language,
                assignee.id if assignee else None,
                blocked,
                _utc(history.created_at),
                _utc(history.changed_at),
            )
        )
        for channel, handle in identities:
            writer.rows["channel_identity"].append(
                (
                    writer.new_id("channel_identity"),
                    self.workspace_id,
                    contact_id,
                    channel.id,
                    handle,
                    _utc(history.created_at),
                )
            )
        self.stats.contacts += 1

        calling = [channel for channel, _ in identities if channel.type.supports_calls]
        self.seen += 1
        self.contacts_left -= 1
        if phone and calling:
            self.eligible_seen += 1
            candidate = _CallCandidate(
                contact_id,
                phone,
                assignee.id if assignee else None,
                calling,
                history.open_conversation_id,
            )
            self._historical_calls(candidate, history.created_at, history.intervals, blocked)
            if blocked:
                pass  # a blocked contact rings in no tab: no live call
            elif len(self.call_candidates) < 400:
                self.call_candidates.append(candidate)
            elif rng.random() < 0.05:
                self.call_candidates[rng.randrange(400)] = candidate

    def _history(
        self,
        contact_id: int,
        pool: _LocalePool,
        first: str,
        assignee: _Member | None,
        blocked: bool,
        messaging: list[_ChannelInfo],
    ) -> _History:
        """Write the contact's conversations, messages and activities (1-3 conversations over
        the last 90 days, the latest open 40 % of the time)."""
        rng = self.rng
        history = _History(contact_id, first, pool.texts, assignee, messaging, blocked)
        count = rng.choices((1, 2, 3), cum_weights=(55, 85, 100))[0]
        latest_open = rng.random() < OPEN_RATE
        span = self.now - self.start - 15 * MINUTE
        starts = sorted(self.start + rng.random() * span for _ in range(count))
        if latest_open:  # open conversations are mostly recent
            recent = self.now - min(span * 0.95, rng.expovariate(1 / (2.5 * DAY))) - 5 * MINUTE
            if recent > (starts[-2] + HOUR if count > 1 else self.start):
                starts[-1] = recent
        history.created_at = history.changed_at = starts[0]
        for index, opened in enumerate(starts):
            last = index == count - 1
            limit = self.now - MINUTE if last else starts[index + 1]
            self._conversation(history, opened, limit, is_open=last and latest_open)

        if assignee is not None and not history.assignee_recorded:
            # assigned by hand before anyone replied
            ts = min(self.now - MINUTE, history.created_at + rng.uniform(MINUTE, 2 * HOUR))
            self._assignment(
                history,
                history.intervals[0][2],
                assignee.id,
                None,
                rng.choice(self.admins),
                ts,
                "manual",
            )
        if blocked:
            last_at = history.last_message_at
            ts = last_at + min((self.now - last_at) * 0.9, rng.uniform(MINUTE, DAY))
            self._activity(
                contact_id,
                history.intervals[-1][2],
                ActivityKind.CONTACT_BLOCKED,
                rng.choice(self.blockers).id,
                ts,
                {},
            )
            history.changed_at = max(history.changed_at, ts)
        if rng.random() < COMMENT_RATE:
            for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
                opened, closed, conversation_id = rng.choice(history.intervals)
                author = (
                    assignee if assignee and rng.random() < 0.6 else rng.choice(self.unrestricted)
                )
                self._comment(contact_id, conversation_id, author, rng.uniform(opened, closed))
        return history

    def _assignment(
        self,
        history: _History,
        conversation_id: int,
        assignee_id: int | None,
        previous_id: int | None,
        author: _Member,
        ts: float,
        reason: str,
    ) -> None:
        kind = ActivityKind.CONTACT_ASSIGNED if assignee_id else ActivityKind.CONTACT_UNASSIGNED
        self._activity(
            history.contact_id,
            conversation_id,
            kind,
            author.id,
            ts,
            {"assignee_id": assignee_id, "previous_assignee_id": previous_id, "reason": reason},
        )
        history.changed_at = max(history.changed_at, ts)
        if history.assignee is not None and assignee_id == history.assignee.id:
            history.assignee_recorded = True

    def _directions(self, count: int, can_reply: bool) -> tuple[list[bool], list[float]]:
        """Who writes each message (``True``: the contact) and the seconds between them.

        Turns alternate most of the time; agents answer within ~25 minutes, customers within
        ~40; some messages come in bursts, a few after a night.
        """
        rng = self.rng
        inbound = not (can_reply and rng.random() < 0.1)  # 10 % are outreach by an agent
        directions, gaps = [inbound], []
        for _ in range(count - 1):
            if rng.random() < 0.65 and (can_reply or not inbound):
                inbound = not inbound
                gap = rng.expovariate(1 / (40 * MINUTE if inbound else 25 * MINUTE))
            else:
                gap = rng.expovariate(1 / (1.5 * MINUTE))
            if rng.random() < 0.04:
                gap += rng.uniform(6 * HOUR, 16 * HOUR)
            directions.append(inbound)
            gaps.append(gap + 2.0)
        return directions, gaps

    def _outbound_status(self, ts: float, channel: _ChannelInfo) -> tuple[str, str | None]:
        """A sent message's delivery status by age (a few fail) and the provider's id."""
        roll = self.rng.random()
        if roll < 0.02:
            return "FAILED", None
        age = self.now - ts
        if age < 10 * MINUTE:
            status = "SENT"
        elif age < 2 * HOUR:
            status = "DELIVERED" if roll < 0.5 else "READ"
        else:
            status = "READ" if roll < 0.75 else "DELIVERED"
        if status == "READ" and channel.type is ChannelType.EMAIL:
            status = "DELIVERED"  # no read receipts by e-mail
        return status, self._external_id(channel)

    def _conversation(
        self, history: _History, opened: float, limit: float, *, is_open: bool
    ) -> None:
        """One conversation between ``opened`` and ``limit`` (the next one, or now)."""
        rng = self.rng
        writer = self.writer
        rows = writer.rows["message"]
        wid, contact_id, texts = self.workspace_id, history.contact_id, history.texts
        assignee = history.assignee
        conversation_id = writer.new_id("conversation")
        # Who answers: the assignee (now and then a teammate), or, for an unassigned contact,
        # someone the first reply assigned and who was unassigned after closing. An unassigned
        # contact's open conversation is still waiting for its first reply.
        handler = assignee or (None if is_open else rng.choice(self.unrestricted))
        teammates = self.co_handlers[assignee.id] if assignee else []
        mean = self.messages_per_conversation
        count = max(1, round(rng.gammavariate(2.0, mean / 2))) if mean else 1
        directions, gaps = self._directions(count, can_reply=handler is not None)
        total, available = sum(gaps), (limit - opened) * 0.85
        scale = available / total if total > available else 1.0

        channel = rng.choice(history.messaging)
        ts = opened
        message_id = 0
        last_inbound = None
        first_author = last_author = None
        for j, inbound in enumerate(directions):
            if j:
                ts += gaps[j - 1] * scale
                if rng.random() < 0.05:
                    channel = rng.choice(history.messaging)
            message_id = writer.new_id("message")
            if inbound:
                text = rng.choice(texts["open"] if j == 0 else texts["follow"])
                rows.append(
                    (
                        message_id,
                        wid,
                        conversation_id,
                        contact_id,
                        channel.id,
                        "INBOUND",
                        None,
                        text,
                        "RECEIVED",
                        self._external_id(channel),
                        _utc(ts),
                    )
                )
                last_inbound = ts
                continue
            if assignee is None:
                author = handler
            elif history.assignee_recorded and teammates and rng.random() < 0.15:
                author = rng.choice(teammates)
            else:
                author = assignee
            if first_author is None:
                text = rng.choice(texts["greet"])
            elif j == count - 1 and not is_open:
                text = rng.choice(texts["bye"])
            else:
                text = rng.choice(texts["reply"])
            if "{first}" in text:
                text = text.replace("{first}", history.first_name)
            status, external = self._outbound_status(ts, channel)
            rows.append(
                (
                    message_id,
                    wid,
                    conversation_id,
                    contact_id,
                    channel.id,
                    "OUTBOUND",
                    author.id,
                    text,
                    status,
                    external,
                    _utc(ts),
                )
            )
            if first_author is None and (assignee is None or not history.assignee_recorded):
                # the first reply to an unassigned contact assigns it to the replier
                self._assignment(
                    history, conversation_id, author.id, None, author, ts, "first_reply"
                )
            first_author = first_author or author
            last_author = author
        self.stats.messages += count
        history.last_message_at = ts
        self._activity(
            contact_id,
            conversation_id,
            ActivityKind.CONVERSATION_OPENED,
            None if directions[0] else first_author.id,
            opened,
        )

        category = summary = closed_at = None
        if is_open:
            history.open_conversation_id = conversation_id
            history.intervals.append((opened, self.now, conversation_id))
            if last_inbound is not None and last_inbound > self.now - SEEN_WINDOW:
                self.unread.append(
                    (
                        conversation_id,
                        assignee.id if assignee else None,
                        history.blocked,
                        last_inbound,
                    )
                )
        else:
            closed_at = ts + min(
                (limit - ts) * rng.uniform(0.05, 0.6), rng.uniform(2 * MINUTE, 2 * DAY)
            )
            closer = last_author or handler
            if rng.random() < 0.65:
                category = rng.choice(tuple(_CLOSING_NOTES))
                if rng.random() < 0.5:
                    amount = f"£{rng.randrange(8, 400)}.{rng.randrange(100):02d}"
                    summary = _fill(
                        rng.choice(_CLOSING_NOTES[category]), rng, _TEXTS["en"]["day"]
                    ).replace("{amount}", amount)
            self._activity(
                contact_id,
                conversation_id,
                ActivityKind.CONVERSATION_CLOSED,
                closer.id,
                closed_at,
                {"category": category, "summary": summary},
            )
            history.intervals.append((opened, closed_at, conversation_id))
            if assignee is None and first_author is not None:
                # a manager handed the contact back to the unassigned pool after closing
                unassigned_at = closed_at + min((limit - closed_at) * 0.5, rng.uniform(MINUTE, DAY))
                self._assignment(
                    history,
                    conversation_id,
                    None,
                    first_author.id,
                    rng.choice(self.admins),
                    unassigned_at,
                    "manual",
                )
        writer.rows["conversation"].append(
            (
                conversation_id,
                wid,
                contact_id,
                contact_id if is_open else None,
                ConversationStatus.OPEN.value if is_open else ConversationStatus.CLOSED.value,
                message_id,
                channel.id,
                _utc(ts),
                _utc(last_inbound) if last_inbound is not None else None,
                category,
                summary,
                _utc(opened),
                _utc(closed_at) if closed_at is not None else None,
            )
        )

    def _comment(self, contact_id: int, conversation_id: int, author: _Member, ts: float) -> None:
        rng = self.rng
        others = [member for member in self.members if member.id != author.id]
        mentioned: list[_Member] = []
        if rng.random() < 0.35:
            template = rng.choice(_MENTION_COMMENTS)
            mentioned = rng.sample(others, 2 if "{mention2}" in template else 1)
            # the markup and references the app's own comment path writes
            text = template.replace("{mention}", mention(mentioned[0].name, mentioned[0].id))
            if len(mentioned) > 1:
                text = text.replace("{mention2}", mention(mentioned[1].name, mentioned[1].id))
        else:
            text = rng.choice(_COMMENTS)
        text = _fill(text, rng, _TEXTS["en"]["day"])
        data = comment_data([member.id for member in mentioned])
        activity_id = self._activity(
            contact_id, conversation_id, ActivityKind.COMMENT, author.id, ts, data, text
        )
        for member in mentioned:
            self.writer.rows["activity_mention"].append(
                (self.writer.new_id("activity_mention"), activity_id, member.id)
            )

    # -- calls -------------------------------------------------------------------------------

    def _historical_calls(
        self,
        candidate: _CallCandidate,
        created_at: float,
        intervals: list[tuple[float, float, int]],
        blocked: bool,
    ) -> None:
        """Ended, missed, declined and failed calls, spread so the total lands on target.

        The first assigned contact old enough gets one call of each outcome (a contact mixing
        outcomes), and the first two blocked callers two calls each (the blocked inbox's call
        log); later contacts make up for it.
        """
        rng = self.rng
        rate = self.eligible_seen / self.seen if self.seen else 0.6
        expected_eligible = max(1.0, (self.contacts_left + 1) * max(rate, 0.05))
        expected = self.calls_left / expected_eligible
        count = int(expected) + (rng.random() < expected - int(expected))
        latest = self.now - 2 * HOUR  # long enough for any call to have ended
        if created_at > latest - HOUR:
            return  # a brand-new contact has no call history (later contacts make up for it)
        forced: list[CallStatus] = []
        if self.forced_statuses and candidate.assignee_id is not None and not blocked:
            forced, self.forced_statuses = self.forced_statuses, []
            count = max(count, len(forced))
        if blocked and self.blocked_with_calls < 2:
            self.blocked_with_calls += 1
            count = max(count, 2)
        for index in range(min(count, max(self.calls_left, len(forced)))):
            status = forced[index] if index < len(forced) else None
            self._call(candidate, rng.uniform(created_at, latest), intervals, status)
            self.calls_left -= 1

    @staticmethod
    def _call_conversation(ts: float, intervals: list[tuple[float, float, int]]) -> int | None:
        for opened, closed, conversation_id in intervals:
            if opened <= ts <= closed:
                return conversation_id
        return None

    def _answerer(self, assignee_id: int | None) -> _Member | None:
        """Who picks up (or places) a call for this contact without changing its assignee."""
        if assignee_id is None:
            return None
        assignee = self.by_id[assignee_id]
        if assignee.has_call_access:
            return assignee
        return self.rng.choice(self.unrestricted_callers)

    def _call(
        self,
        candidate: _CallCandidate,
        ringing: float,
        intervals: list[tuple[float, float, int]],
        status: CallStatus | None = None,
    ) -> None:
        rng = self.rng
        channel = rng.choice(candidate.channels)
        handler = self._answerer(candidate.assignee_id)
        if status is None:
            status = rng.choices(
                (CallStatus.ENDED, CallStatus.MISSED, CallStatus.DECLINED, CallStatus.FAILED),
                (55, 25, 12, 8),
            )[0]
        # an answered call (or a call placed by someone) would assign an unassigned contact
        outbound = handler is not None and rng.random() < 0.35
        if handler is None and status is CallStatus.ENDED:
            status = CallStatus.MISSED
        answered_by = answered_at = ended_at = None
        recording, recording_id = RecordingState.NONE, None
        if status is CallStatus.ENDED:
            answered_at = ringing + rng.uniform(3, 25)
            ended_at = answered_at + min(90 * MINUTE, max(8.0, rng.lognormvariate(5.2, 0.8)))
            answered_by = handler
            roll = rng.random()
            if roll < 0.4:
                recording, recording_id = RecordingState.READY, f"RE{self._hex()}"
            elif roll < 0.43:
                recording = RecordingState.FAILED
        elif status is CallStatus.MISSED:
            ended_at = ringing + (
                self.ring_timeout if rng.random() < 0.6 else rng.uniform(5, self.ring_timeout)
            )
        elif status is CallStatus.DECLINED:
            ended_at = ringing + rng.uniform(3, 20)
        else:
            ended_at = ringing + rng.uniform(0.2, 3)
        conversation_id = self._call_conversation(ringing, intervals)
        call_id = self._write_call(
            candidate,
            channel,
            outbound,
            status,
            answered_by,
            None,
            ringing,
            answered_at,
            ended_at,
            recording,
            recording_id,
        )
        data = {"call_id": call_id, "direction": "OUTBOUND" if outbound else "INBOUND"}
        if status is CallStatus.ENDED:
            self._activity(
                candidate.contact_id,
                conversation_id,
                ActivityKind.CALL_ANSWERED,
                answered_by.id,
                answered_at,
                data,
            )
            self._activity(
                candidate.contact_id,
                conversation_id,
                ActivityKind.CALL_ENDED,
                answered_by.id,
                ended_at,
                {**data, "duration_seconds": round(ended_at - answered_at)},
            )
        elif status is CallStatus.MISSED:
            self._activity(
                candidate.contact_id,
                conversation_id,
                ActivityKind.CALL_MISSED,
                None,
                ended_at,
                data,
            )
        elif status is CallStatus.DECLINED:
            decliner = handler.id if handler is not None and not outbound else None
            self._activity(
                candidate.contact_id,
                conversation_id,
                ActivityKind.CALL_DECLINED,
                decliner,
                ended_at,
                data,
            )
        else:
            self._activity(
                candidate.contact_id,
                conversation_id,
                ActivityKind.CALL_FAILED,
                None,
                ended_at,
                data,
            )

    def _write_call(
        self,
        candidate: _CallCandidate,
        channel: _ChannelInfo,
        outbound: bool,
        status: CallStatus,
        answered_by: _Member | None,
        ongoing_user_id: int | None,
        ringing: float,
        answered_at: float | None,
        ended_at: float | None,
        recording: RecordingState,
        recording_id: str | None,
    ) -> int:
        call_id = self.writer.new_id("call")
        ours = channel.number
        from_number, to_number = (ours, candidate.phone) if outbound else (candidate.phone, ours)
        external = ("wacid." if channel.type is ChannelType.WHATSAPP else "CA") + self._hex()
        self.writer.rows["call"].append(
            (
                call_id,
                self.workspace_id,
                candidate.contact_id,
                channel.id,
                CallDirection.OUTBOUND.value if outbound else CallDirection.INBOUND.value,
                status.value,
                answered_by.id if answered_by else None,
                ongoing_user_id,
                from_number,
                to_number,
                external,
                _utc(ringing),
                _utc(answered_at) if answered_at is not None else None,
                _utc(ended_at) if ended_at is not None else None,
                recording.value,
                recording_id,
            )
        )
        self.stats.calls += 1
        self.stats.call_statuses[status.value] = self.stats.call_statuses.get(status.value, 0) + 1
        return call_id

    def ringing_calls_now(self) -> None:
        """Calls ringing right now, one per audience of the incoming-calls tabs
        (``domain.md`` section 5): a contact of each restricted agent with call access (their
        "Assigned to me" tab, and their team's ``ALL`` tab for a ``TEAM`` agent), a contact
        assigned to a user without call access (for unrestricted users to pick up) and an
        unassigned contact. Nobody is on a call, so every demo user with call access who sees
        one may answer it; unanswered, they are missed after the ring timeout.
        """
        rng = self.rng
        candidates = list(self.call_candidates)
        rng.shuffle(candidates)
        audiences: list[Callable[[int | None], bool]] = [
            (lambda assignee_id, member=member: assignee_id == member.id)
            for member in self.members
            if member.has_call_access and not member.unrestricted
        ]
        no_call_access = {member.id for member in self.members if not member.has_call_access}
        audiences.append(lambda assignee_id: assignee_id in no_call_access)
        audiences.append(lambda assignee_id: assignee_id is None)
        ringing_contacts: set[int] = set()
        for audience in audiences:
            candidate = next(
                (
                    c
                    for c in candidates
                    if c.contact_id not in ringing_contacts and audience(c.assignee_id)
                ),
                None,
            )
            if candidate is None:
                continue
            self._write_call(
                candidate,
                rng.choice(candidate.channels),
                False,
                CallStatus.RINGING,
                None,
                None,
                self.now - rng.uniform(2, 20),
                None,
                None,
                RecordingState.NONE,
                None,
            )
            ringing_contacts.add(candidate.contact_id)

    def indicators(self) -> None:
        """When each user last opened each inbox they have, and the unseen marks that leaves.

        Every user opened each of their inboxes a while ago (up to :data:`SEEN_WINDOW`); each
        open conversation with an inbound message since then carries the mark the live path
        would have written for that user (:func:`graph.resolvers.indicators.marked_tiers`:
        one tier, by priority, for the contact's present assignee and blocked flag), so the
        new-message dots and the ``unseen`` lists agree from the first start.
        """
        rng = self.rng
        writer = self.writer
        for member in self.members:
            viewer = member.viewer
            assert viewer is not None
            keys = [kind.value for kind in visible_standard_inboxes(viewer)]
            keys += [team_key(team_id) for team_id in visible_team_ids(viewer)]
            seen_at: dict[str, float] = {}
            for key in keys:
                seen_at[key] = self.now - rng.uniform(10 * MINUTE, SEEN_WINDOW)
                writer.rows["inbox_seen_state"].append(
                    (writer.new_id("inbox_seen_state"), member.id, key, _utc(seen_at[key]))
                )
            tiers: dict[tuple[int | None, bool], list[str]] = {}
            for conversation_id, assignee_id, blocked, inbound_at in self.unread:
                situation = (assignee_id, blocked)
                if situation not in tiers:
                    tiers[situation] = marked_tiers(viewer, assignee_id, blocked)
                for key in tiers[situation]:
                    if inbound_at > seen_at[key]:
                        writer.rows["unseen_mark"].append(
                            (
                                writer.new_id("unseen_mark"),
                                member.id,
                                key,
                                conversation_id,
                                _utc(inbound_at),
                            )
                        )


# (creator, name, sharing, teams shared with, users shared with, filter in storage shape with
# "{WHATSAPP}"-style channel names, "{team:Sales}" member lists resolved by _custom_inboxes)
_CUSTOM_INBOXES: tuple[
    tuple[str, str, CustomInboxSharing, tuple[str, ...], tuple[str, ...], Any], ...
] = (
    (
        "agent.all",
        "My open WhatsApp chats",
        CustomInboxSharing.PRIVATE,
        (),
        (),
        {"all": [{"assignee": {"me": True}}, {"status": ["OPEN"]}, {"channel_ids": ["WHATSAPP"]}]},
    ),
    (
        "manager",
        "Unassigned from France and Belgium",
        CustomInboxSharing.EVERYONE,
        (),
        (),
        {"all": [{"assignee": {"none": True}}, {"country_codes": ["FR", "BE"]}]},
    ),
    (
        "manager.sales",
        "Sales: waiting more than a day",
        CustomInboxSharing.CHOSEN,
        ("Sales",),
        (),
        {
            "all": [
                {"status": ["OPEN"]},
                {"last_incoming_older_than": 86_400},
                {"assignee": {"user_ids": "team:Sales"}},
            ]
        },
    ),
    (
        "owner",
        "German speakers",
        CustomInboxSharing.CHOSEN,
        ("Support",),
        ("agent.billing",),
        {"any": [{"languages": ["de", "de-DE", "de-AT"]}, {"country_codes": ["DE", "AT"]}]},
    ),
    (
        "agent.team",
        "Social media, this week",
        CustomInboxSharing.EVERYONE,
        (),
        (),
        {
            "all": [
                {"last_channel_ids": ["INSTAGRAM", "MESSENGER"]},
                {"last_incoming_within": 7 * 86_400},
            ]
        },
    ),
    (
        "owner",
        "Blocked callers",
        CustomInboxSharing.PRIVATE,
        (),
        (),
        {"all": [{"blocked": True}, {"channel_ids": ["WHATSAPP", "VOIP"]}]},
    ),
)


async def _custom_inboxes(
    connection: BaseDBAsyncClient,
    members: dict[str, _Member],
    team_ids: dict[str, int],
    channel_ids: dict[ChannelType, int],
    now: datetime,
) -> int:
    """The demo's custom inboxes (``domain.md`` section 2): private, shared with everyone and
    shared with teams and users, by different creators (a restricted agent's included), each
    filter checked by the API's own :func:`graph.resolvers.custom_inbox.clean_filter` as its
    creator. Returns how many were written."""

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        if isinstance(node, str) and node in ChannelType.__members__:
            return channel_ids[ChannelType[node]]
        if isinstance(node, str) and node.startswith("team:"):
            team = node.removeprefix("team:")
            return sorted(m.id for m in members.values() if team in m.teams)
        return node

    for offset, (creator, name, sharing, teams, users, spec) in enumerate(_CUSTOM_INBOXES):
        viewer = members[creator].viewer
        assert viewer is not None
        created_at = now - timedelta(days=HISTORY_DAYS - 10 * offset)
        row = await CustomInbox.create(
            workspace_id=viewer.workspace_id,
            creator_id=viewer.user_id,
            name=name,
            filter_spec=await clean_filter(viewer, resolve(spec)),
            sharing=sharing,
            created_at=created_at,
            updated_at=created_at,
            using_db=connection,
        )
        shares = [CustomInboxShare(custom_inbox_id=row.id, team_id=team_ids[t]) for t in teams]
        shares += [CustomInboxShare(custom_inbox_id=row.id, user_id=members[u].id) for u in users]
        if shares:
            await CustomInboxShare.bulk_create(shares, using_db=connection)
    return len(_CUSTOM_INBOXES)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


async def seed_demo(
    contacts: int = 2000,
    *,
    messages_per_contact: float = 10.0,
    random_seed: int = 7,
    progress: Callable[[str], None] | None = None,
) -> list[DemoLogin]:
    """Build the "Demo Co" workspace and return its logins (all share :data:`DEMO_PASSWORD`).

    Assumes Tortoise is initialised and migrated on an empty database (or a database without a
    workspace named "Demo Co"). Everything is written in one transaction: on failure nothing
    is left behind. No outbox events are written (``event_sequence`` stays 0).

    Args:
        contacts: how many customers to create (each with 1-3 conversations).
        messages_per_contact: the average number of messages per contact (at least one per
            conversation, so very small values give about 1.6).
        random_seed: the seed of every random choice (names, numbers, texts, timings).
        progress: called with a short human-readable line after each stage.

    Returns:
        The twelve demo logins, owner first.

    Raises:
        ValueError: ``contacts`` is negative, or a "Demo Co" workspace or one of the demo
            e-mails already exists.

    Example:
        >>> logins = await seed_demo(200, progress=print)
        >>> {login.role for login in logins}
        {'OWNER', 'MANAGER', 'AGENT'}
    """
    if contacts < 0:
        raise ValueError("contacts must be zero or more.")
    report = progress or (lambda _text: None)
    if await Workspace.filter(name=DEMO_WORKSPACE_NAME).exists():
        raise ValueError(
            f'A workspace named "{DEMO_WORKSPACE_NAME}" already exists: the demo is seeded '
            f"already (its logins share the password {DEMO_PASSWORD!r}); to seed afresh, point "
            "DATABASE_URL at an empty database."
        )
    emails = list(demo_emails())
    taken = await User.filter(email__in=emails).values_list("email", flat=True)
    if taken:
        raise ValueError(
            f"Demo e-mails already in use: {', '.join(sorted(taken))}; to seed the demo, point "
            "DATABASE_URL at an empty database."
        )

    rng = random.Random(random_seed)
    password_hash = await hash_password(DEMO_PASSWORD)
    pools = _build_pools(rng, random_seed)
    report(f"{DEMO_WORKSPACE_NAME}: name, phone and text pools ready")
    now = datetime.now(UTC)
    staff_fake = Faker(["en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "nl_NL"])
    staff_fake.seed_instance(random_seed)
    names: list[str] = []
    while len(names) < len(_USERS):
        name = f"{staff_fake.first_name()} {staff_fake.last_name()}"
        if name not in names:
            names.append(name)

    async with in_transaction() as connection:
        workspace = await Workspace.create(
            name=DEMO_WORKSPACE_NAME,
            phone_number_masking=True,
            call_ring_timeout_seconds=DEMO_RING_TIMEOUT_SECONDS,
            event_sequence=0,
            created_at=now - timedelta(days=HISTORY_DAYS + 30),
            using_db=connection,
        )
        teams = {}
        for offset, team_name in enumerate(TEAMS):
            teams[team_name] = await Team.create(
                workspace_id=workspace.id,
                name=team_name,
                created_at=now - timedelta(days=HISTORY_DAYS + 29, hours=offset),
                using_db=connection,
            )
        members: list[_Member] = []
        by_local: dict[str, _Member] = {}
        logins: list[DemoLogin] = []
        for offset, (
            (local, role, visibility, blocked, calls, team_names, weight),
            name,
        ) in enumerate(zip(_USERS, names, strict=True)):
            user = await User.create(
                workspace_id=workspace.id,
                email=f"{local}@{DEMO_EMAIL_DOMAIN}",
                name=name,
                password_hash=password_hash,
                role=role,
                contact_visibility=visibility,
                can_view_blocked_contacts=blocked,
                has_call_access=calls,
                created_at=now - timedelta(days=HISTORY_DAYS + 28 - offset),
                using_db=connection,
            )
            for team_name in team_names:
                await TeamMembership.create(
                    team_id=teams[team_name].id, user_id=user.id, using_db=connection
                )
            members.append(
                _Member(user.id, name, role, visibility, blocked, calls, team_names, weight)
            )
            by_local[local] = members[-1]
            logins.append(
                DemoLogin(
                    user.email,
                    DEMO_PASSWORD,
                    role.value,
                    visibility.value,
                    blocked,
                    calls,
                    team_names,
                )
            )
        channels: list[_ChannelInfo] = []
        for offset, (channel_type, channel_name) in enumerate(_CHANNELS):
            number = None
            if channel_type in _CHANNEL_NUMBERS:
                number = _business_number(*_CHANNEL_NUMBERS[channel_type], rng)
                shown = phonenumbers.format_number(
                    phonenumbers.parse(number), phonenumbers.PhoneNumberFormat.INTERNATIONAL
                )
                channel_name = f"{channel_name} {shown}"
            channel = await Channel.create(
                workspace_id=workspace.id,
                type=channel_type,
                name=channel_name,
                phone_number=number if channel_type.supports_calls else None,
                created_at=now - timedelta(days=HISTORY_DAYS + 20 - offset),
                using_db=connection,
            )
            channels.append(
                _ChannelInfo(channel.id, channel_type, number, _EXTERNAL_ID_PREFIX[channel_type])
            )
        viewers = {
            viewer.user_id: viewer
            for viewer in await viewers_of_workspace(workspace.id, connection)
        }
        for member in members:
            member.viewer = viewers[member.id]
        custom = await _custom_inboxes(
            connection,
            by_local,
            {name: team.id for name, team in teams.items()},
            {channel.type: channel.id for channel in channels},
            now,
        )
        report(
            f"{DEMO_WORKSPACE_NAME}: {len(members)} users, {len(teams)} teams, "
            f"{len(channels)} channels, {custom} custom inboxes"
        )

        writer = _Writer(connection)
        await writer.reserve_ids()
        builder = _DemoBuilder(
            rng=rng,
            pools=pools,
            writer=writer,
            workspace_id=workspace.id,
            members=members,
            channels=channels,
            contacts=contacts,
            messages_per_contact=messages_per_contact,
            now=now,
            ring_timeout=workspace.call_ring_timeout_seconds,
        )
        done = 0
        while done < contacts:
            size = min(CHUNK_CONTACTS, contacts - done)
            # exact shares per chunk (at least one of each in any chunk of 20 or more)
            at_least = 1 if size >= 20 else 0
            blocked = set(rng.sample(range(size), max(at_least, round(size * BLOCKED_RATE))))
            candidates = [i for i in range(size) if i not in blocked and (done or i)]
            duplicates = rng.sample(
                candidates, min(len(candidates), max(at_least, round(size * DUPLICATE_RATE)))
            )
            kinds = {
                index: ("phone", "email_case", "phone", "email")[n % 4]
                for n, index in enumerate(duplicates)
            }
            for i in range(size):
                builder.add_contact(blocked=i in blocked, duplicate_kind=kinds.get(i))
            await writer.flush()
            done += size
            report(
                f"{DEMO_WORKSPACE_NAME}: {done}/{contacts} contacts, "
                f"{builder.stats.messages} messages, {builder.stats.calls} calls"
            )
        builder.ringing_calls_now()
        builder.indicators()
        await writer.flush()
        await writer.reset_sequences()
        await writer.analyze()
    report(
        f"{DEMO_WORKSPACE_NAME}: done: {writer.counts['contact']} contacts, "
        f"{writer.counts['conversation']} conversations, {writer.counts['message']} messages, "
        f"{writer.counts['call']} calls, {writer.counts['activity']} activities, "
        f"{writer.counts['activity_mention']} mentions, {writer.counts['unseen_mark']} unseen marks"
    )
    return logins


__all__ = [
    "DEMO_EMAIL_DOMAIN",
    "DEMO_PASSWORD",
    "DEMO_RING_TIMEOUT_SECONDS",
    "DEMO_WORKSPACE_NAME",
    "DemoLogin",
    "closing_notes",
    "create_workspace",
    "demo_emails",
    "demo_text",
    "seed_demo",
]
