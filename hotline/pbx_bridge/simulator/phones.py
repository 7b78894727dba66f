"""Agents' SIP softphones in the simulated PBX: registration, qualify and expiry.

Faithful to the captures taken with real PJSIP endpoints (``shared/ami-transcripts/pjsip``):

* registering (11a): ``ContactStatus NonQualified``, ``PeerStatus Reachable``, ``ContactStatus
  Reachable`` and the device going ``NOT_INUSE``, all at once; REGISTER refreshes and successful
  qualifies produce no event at all;
* de-registering gracefully (11a): ``PeerStatus Unreachable``, ``ContactStatus Removed``, device
  ``UNAVAILABLE``;
* a softphone killed without de-registering (11a, 11e): nothing until the next qualify fails
  (``qualify_timeout_s`` after a qualify sent every ``qualify_frequency_s``: 4-7 s in the
  captures), then ``PeerStatus Unreachable`` and ``ContactStatus Unreachable``; the device turns
  ``UNAVAILABLE`` then too, unless it has a channel (a dial ringing the dead contact): then only
  when that channel ends.  The contact stays registered until it expires (``Expires`` after its
  last REGISTER, plus Asterisk's expiry sweep), then ``ContactStatus Removed`` alone;
* dialling (11c, 11e): an unregistered phone or an Unreachable contact fails at once with
  ``CHANUNAVAIL`` and no channel; a dead contact not yet found out takes the INVITE and says
  nothing: the leg stays ``Down`` (no ``DialState``, no device change) until the ring timeout.

:class:`PhoneBook` is the registration state shared by the simulator and every :class:`PbxModel`
it makes (a PBX restart keeps its registrations, as Asterisk keeps contacts in its database);
:class:`SipPhones` is one model's view of it, with the timers and the events.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hotline.pbx_bridge.simulator.events import SYSTEM
from hotline.pbx_bridge.simulator.model import Cancellable, Headers, Scheduler

#: The technology of the simulated phones' devices and channels.
PHONE_TECH = "PJSIP"
QUALIFY_FREQUENCY_S = 5.0  # the captures' AOR qualify_frequency
QUALIFY_TIMEOUT_S = 2.0  # ... and qualify_timeout
REGISTRATION_EXPIRES_S = 60.0  # the softphones' Expires
REGISTRATION_REFRESH_S = 45.0  # ... refreshed this often
EXPIRY_SWEEP_S = 30.0  # Asterisk checks for expired contacts this often (78 s seen in 11a)
FIRST_CONTACT_PORT = 5061  # agents 1001/1002/1003 = sipp on 5061/5063/5065


class PhoneState(enum.StrEnum):
    """Where a softphone's registration is, as Asterisk sees it."""

    UNREGISTERED = "unregistered"  # no contact: a dial fails at once (CHANUNAVAIL)
    REGISTERED = "registered"  # contact Reachable: rings and answers as its behaviour says
    DEAD = "dead"  # killed, not yet found out by a qualify: an INVITE goes nowhere
    UNREACHABLE = "unreachable"  # a qualify found it dead; registered until it expires


class PhoneControlError(ValueError):
    """A phone operation that cannot happen (an unknown endpoint, a dead phone de-registering)."""


@dataclass(slots=True)
class Phone:
    """One endpoint's softphone and its contact."""

    endpoint: str
    port: int
    state: PhoneState = PhoneState.UNREGISTERED
    registered_at: float = 0.0
    died_at: float = 0.0

    @property
    def uri(self) -> str:
        """The contact's URI as ContactStatus shows it."""
        return f"sip:{self.endpoint}@127.0.0.1:{self.port}"

    @property
    def device(self) -> str:
        """The device name (DeviceStateChange, PeerStatus ``Peer``)."""
        return f"{PHONE_TECH}/{self.endpoint}"

    @property
    def dialable(self) -> bool:
        """Whether Asterisk will try to reach the phone (a DEAD one is still believed Reachable)."""
        return self.state in (PhoneState.REGISTERED, PhoneState.DEAD)


@dataclass(slots=True)
class PhoneBook:
    """The configured PJSIP endpoints of agents and their registrations (outlives PBX restarts)."""

    phones: dict[str, Phone] = field(default_factory=dict)

    @classmethod
    def of(cls, endpoints: Iterable[str], unregistered: Iterable[str] = (), *, now: float = 0.0) -> PhoneBook:
        """Phones for ``endpoints`` (``"1001"``...), registered unless named in ``unregistered``."""
        book = cls()
        absent = set(unregistered)
        for index, endpoint in enumerate(endpoints):
            state = PhoneState.UNREGISTERED if endpoint in absent else PhoneState.REGISTERED
            book.phones[endpoint] = Phone(endpoint, FIRST_CONTACT_PORT + 2 * index, state, now)
        unknown = absent - set(book.phones)
        if unknown:
            raise PhoneControlError(f"unregistered phones that are not endpoints: {sorted(unknown)}")
        return book

    def __bool__(self) -> bool:
        return bool(self.phones)


def peer_status(phone: Phone, status: str) -> Headers:
    """``Event: PeerStatus`` as Asterisk 22's res_pjsip sends it (capture pjsip/11a)."""
    return [
        ("Event", "PeerStatus"),
        ("Privilege", SYSTEM),
        ("ChannelType", PHONE_TECH),
        ("Peer", phone.device),
        ("PeerStatus", status),
    ]


def contact_status(phone: Phone, status: str, roundtrip_usec: int = 0) -> Headers:
    """``Event: ContactStatus`` (capture pjsip/11a)."""
    return [
        ("Event", "ContactStatus"),
        ("Privilege", SYSTEM),
        ("URI", phone.uri),
        ("ContactStatus", status),
        ("AOR", phone.endpoint),
        ("EndpointName", phone.endpoint),
        ("RoundtripUsec", str(roundtrip_usec)),
    ]


class SipPhones:
    """One PBX model's handling of the phone book: events, qualify and expiry timers.

    ``set_device_state(device, state)`` is the model's: it sends a ``DeviceStateChange`` when the
    state differs from the last one sent and no channel of the device is up (a device in a call
    keeps its state until the call ends: capture pjsip/11e).
    """

    def __init__(
        self,
        book: PhoneBook,
        *,
        clock: Callable[[], float],
        scheduler: Scheduler,
        emit: Callable[[Headers], None],
        set_device_state: Callable[[str, str], None],
        rng: random.Random,
    ) -> None:
        self.book = book
        self._clock = clock
        self._scheduler = scheduler
        self._emit = emit
        self._set_device_state = set_device_state
        self._rng = rng
        self._timers: dict[str, Cancellable] = {}
        # A PBX that (re)starts qualifies every contact again: a phone that died while it was
        # down is found out, and one already found out is still waiting for its expiry.
        for phone in book.phones.values():
            if phone.state is PhoneState.DEAD:
                self._arm(phone, self._qualify_delay(), self._found_dead)
            elif phone.state is PhoneState.UNREACHABLE:
                self._arm(phone, self._expiry_delay(phone), self._expired)

    # -- queries -------------------------------------------------------------------------

    def manages(self, tech: str, resource: str) -> bool:
        """True when a dial to ``tech/resource`` goes to an agent's phone (not a trunk)."""
        return bool(self.book) and tech == PHONE_TECH and "@" not in resource

    def phone(self, endpoint: str) -> Phone | None:
        """The phone of ``endpoint`` (None: no such endpoint, e.g. PJSIP/1009 in 11c)."""
        return self.book.phones.get(endpoint)

    def idle_state(self, device: str) -> str | None:
        """The device state of a phone without channels, or None when it is not a phone."""
        tech, _, endpoint = device.partition("/")
        phone = self.book.phones.get(endpoint) if tech == PHONE_TECH else None
        if phone is None:
            return None
        return "NOT_INUSE" if phone.dialable else "UNAVAILABLE"

    def device_states(self) -> list[tuple[str, str]]:
        """Every endpoint's device and its idle state, in configuration order."""
        return [(p.device, "NOT_INUSE" if p.dialable else "UNAVAILABLE") for p in self.book.phones.values()]

    # -- control -------------------------------------------------------------------------

    def register(self, endpoint: str) -> None:
        """The softphone (re)starts and REGISTERs."""
        phone = self._known(endpoint)
        self._disarm(phone)
        previous, phone.state = phone.state, PhoneState.REGISTERED
        phone.registered_at = self._clock()
        match previous:
            case PhoneState.UNREGISTERED:
                self._emit(contact_status(phone, "NonQualified"))
                self._emit(peer_status(phone, "Reachable"))
                self._emit(contact_status(phone, "Reachable", self._roundtrip()))
                self._set_device_state(phone.device, "NOT_INUSE")
            case PhoneState.UNREACHABLE:
                # The same contact again: the qualify that follows the REGISTER succeeds.
                self._emit(peer_status(phone, "Reachable"))
                self._emit(contact_status(phone, "Reachable", self._roundtrip()))
                self._set_device_state(phone.device, "NOT_INUSE")
            case _:
                pass  # a refresh, or a restarted phone not yet found dead: no event (11a)

    def unregister(self, endpoint: str) -> None:
        """The softphone de-registers gracefully (``Contact: *``, ``Expires: 0``)."""
        phone = self._known(endpoint)
        if phone.state is PhoneState.DEAD:
            raise PhoneControlError(f"phone {endpoint} is dead: it cannot de-register")
        self._disarm(phone)
        previous, phone.state = phone.state, PhoneState.UNREGISTERED
        if previous is PhoneState.REGISTERED:
            self._emit(peer_status(phone, "Unreachable"))
        if previous is not PhoneState.UNREGISTERED:
            self._emit(contact_status(phone, "Removed"))
        self._set_device_state(phone.device, "UNAVAILABLE")

    def kill(self, endpoint: str) -> None:
        """The softphone dies without de-registering (``kill -9``): found out by the next qualify."""
        phone = self._known(endpoint)
        if phone.state is not PhoneState.REGISTERED:
            raise PhoneControlError(f"phone {endpoint} is {phone.state.value}: only a registered one can die")
        phone.state, phone.died_at = PhoneState.DEAD, self._clock()
        self._arm(phone, self._qualify_delay(), self._found_dead)

    def shutdown(self) -> None:
        """The model is replaced (PBX restart): its timers go, the phone book stays."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    # -- timers --------------------------------------------------------------------------

    def _found_dead(self, phone: Phone) -> None:
        phone.state = PhoneState.UNREACHABLE
        self._emit(peer_status(phone, "Unreachable"))
        self._emit(contact_status(phone, "Unreachable"))
        self._set_device_state(phone.device, "UNAVAILABLE")
        self._arm(phone, self._expiry_delay(phone), self._expired)

    def _expired(self, phone: Phone) -> None:
        phone.state = PhoneState.UNREGISTERED
        self._emit(contact_status(phone, "Removed"))  # nothing else: already unavailable (11a)

    def _qualify_delay(self) -> float:
        # The next qualify is sent within qualify_frequency; it fails qualify_timeout later.
        return self._rng.uniform(0.0, QUALIFY_FREQUENCY_S) + QUALIFY_TIMEOUT_S

    def _expiry_delay(self, phone: Phone) -> float:
        refreshes = int(max(0.0, phone.died_at - phone.registered_at) // REGISTRATION_REFRESH_S)
        last_register = phone.registered_at + refreshes * REGISTRATION_REFRESH_S
        expires = last_register + REGISTRATION_EXPIRES_S + self._rng.uniform(0.0, EXPIRY_SWEEP_S)
        return max(0.0, expires - self._clock())

    def _arm(self, phone: Phone, delay_s: float, step: Callable[[Phone], None]) -> None:
        self._disarm(phone)

        def fire() -> None:
            self._timers.pop(phone.endpoint, None)
            step(phone)

        self._timers[phone.endpoint] = self._scheduler.call_later(delay_s, fire)

    def _disarm(self, phone: Phone) -> None:
        timer = self._timers.pop(phone.endpoint, None)
        if timer is not None:
            timer.cancel()

    def _known(self, endpoint: str) -> Phone:
        phone = self.book.phones.get(endpoint)
        if phone is None:
            raise PhoneControlError(f"no PJSIP endpoint {endpoint!r} (endpoints: {sorted(self.book.phones)})")
        return phone

    def _roundtrip(self) -> int:
        return self._rng.randrange(300, 1700)  # RoundtripUsec of a loopback qualify (11a)
