"""A buyer's addresses: add, edit, delete, choose the default; and the phone rules (which numbers
are accepted, and how they are shown masked).

Rules: at most ADDRESSES_MAX per buyer; exactly one default whenever there is any (the first is
the default, making another the default moves it, deleting the default hands it to the newest
remaining one); the region is a county-level code of the divisions we ship. Only the buyer sees
or changes their addresses: anyone else is answered "not found". A buyer's writes take a lock on
their user row, so two at once (two tabs) cannot break the count or the default."""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import User
from fieldcast.accounts.permissions import require_user
from fieldcast.catalog import regions
from fieldcast.commerce import errors as e
from fieldcast.commerce import schemas as s
from fieldcast.commerce.models import ADDRESSES_MAX, Address
from fieldcast.db.locks import lock_row
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_

# -- phones ---------------------------------------------------------------------------------------

MOBILE = re.compile(r"^1[3-9]\d{9}$")
# Area codes: 010 and 02x have three digits, every other one four (0xxx); local numbers 7 or 8.
LANDLINE = re.compile(r"^(010|02\d|0[3-9]\d{2})-?([1-9]\d{6,7})$")
PHONE_INPUT_MAX = 20  # what a form or the API accepts before normalising (spaces, +86, hyphens)


def normalise_phone(text: str) -> str:
    """A mainland mobile ("13812341234") or a landline with its area code ("0439-1234567"), in
    one spelling; raises BadPhone for anything else."""
    raw = text.strip()
    compact = re.sub(r"[\s()]", "", raw)
    if compact.startswith("+86"):
        compact = compact[3:]
    compact = compact.lstrip("-")
    if MOBILE.match(compact.replace("-", "")):
        return compact.replace("-", "")
    if compact.count("-") <= 1 and (found := LANDLINE.match(compact)):
        return f"{found.group(1)}-{found.group(2)}"
    raise e.BadPhone(
        N_(
            "Enter a mainland mobile number (11 digits, e.g. 13812341234) "
            "or a landline with its area code (e.g. 0439-1234567)."
        ),
        field="phone",
    )


def mask_phone(phone: str) -> str:
    """ "13812341234" -> "138****1234"; a landline keeps its area code and last four digits
    ("0439-***4567"); anything else keeps only its last four."""
    if MOBILE.match(phone):
        return f"{phone[:3]}****{phone[-4:]}"
    if found := LANDLINE.match(phone):
        area, number = found.groups()
        return f"{area}-{'*' * (len(number) - 4)}{number[-4:]}"
    digits = len(phone)
    return "*" * max(digits - 4, 4) + phone[-4:] if digits > 4 else "****"


# -- reads ----------------------------------------------------------------------------------------


async def list_addresses(session: AsyncSession, user_id: int) -> Sequence[Address]:
    """The buyer's addresses: the default first, then the newest."""
    rows = await session.scalars(
        sa.select(Address)
        .where(Address.user_id == user_id)
        .order_by(Address.is_default.desc(), Address.created_at.desc(), Address.id.desc())
    )
    return rows.all()


async def default_address(session: AsyncSession, user_id: int) -> Address | None:
    """Where the buyer's goods go unless they choose otherwise (checkout's "Buy now")."""
    found: Address | None = await session.scalar(
        sa.select(Address).where(Address.user_id == user_id, Address.is_default.is_(True)).limit(1)
    )
    return found


async def address_of(session: AsyncSession, actor: User | None, address_id: int) -> Address:
    """One of the actor's addresses; anyone else's is "not found", never "not yours"."""
    user = require_user(actor)
    address = await session.get(Address, address_id)
    if address is None or address.user_id != user.id:
        raise NotFound(N_("No such address."))
    return address


def address_out(address: Address, *, masked: bool = False) -> s.AddressOut:
    return s.AddressOut(
        id=address.id,
        recipient=address.recipient,
        phone=mask_phone(address.phone) if masked else address.phone,
        region_code=address.region_code,
        region_name=regions.full_name(address.region_code),
        street=address.street,
        is_default=address.is_default,
        created_at=address.created_at,
    )


# -- writes ---------------------------------------------------------------------------------------


def _require_county(code: str) -> None:
    region = regions.get_region(code)
    if region is None or region.level != "county":
        raise e.BadAddress(
            N_("Choose the county or district: a six-digit code of the county level, e.g. 220622."),
            field="region_code",
        )


async def _lock_buyer(uow: UnitOfWork, actor: User | None) -> User:
    """The buyer, with their user row locked for this transaction (see the module's docstring)."""
    user = require_user(actor)
    await lock_row(uow.session, User, user.id)
    return user


async def _make_default(uow: UnitOfWork, address: Address) -> None:
    await uow.session.execute(
        sa.update(Address)
        .where(Address.user_id == address.user_id, Address.id != address.id, Address.is_default.is_(True))
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
    address.is_default = True


async def add_address(uow: UnitOfWork, actor: User | None, data: s.AddressIn, *, is_demo: bool = False) -> Address:
    """A new address; the buyer's first one, or one asked to be, becomes the default. `is_demo`
    marks the invented addresses of `fieldcast demo`'s buyers."""
    user = await _lock_buyer(uow, actor)
    phone = normalise_phone(data.phone)
    _require_county(data.region_code)
    count = await uow.session.scalar(sa.select(sa.func.count(Address.id)).where(Address.user_id == user.id)) or 0
    if count >= ADDRESSES_MAX:
        raise e.TooManyAddresses(
            N_("You can keep at most %(n)s addresses; delete one you no longer use."), n=ADDRESSES_MAX
        )
    address = Address(
        user_id=user.id,
        recipient=data.recipient,
        phone=phone,
        region_code=data.region_code,
        street=data.street,
        is_default=False,
        is_demo=is_demo,
    )
    uow.session.add(address)
    await uow.session.flush()
    if count == 0 or data.is_default:
        await _make_default(uow, address)
    await uow.session.flush()
    return address


async def update_address(uow: UnitOfWork, actor: User | None, address_id: int, patch: s.AddressPatch) -> Address:
    """Change what is given; `is_default=True` moves the default here. The default cannot be
    switched off directly: another address is made the default instead."""
    user = await _lock_buyer(uow, actor)
    address = await address_of(uow.session, user, address_id)
    changes = patch.model_dump(exclude_unset=True)
    if changes.get("phone") is not None:
        changes["phone"] = normalise_phone(changes["phone"])
    if changes.get("region_code") is not None:
        _require_county(changes["region_code"])
    make_default = changes.pop("is_default", None)
    if make_default is False and address.is_default:
        raise e.BadAddress(
            N_("There is always one default address: make another one the default instead."), field="is_default"
        )
    for name in ("recipient", "phone", "region_code", "street"):
        value = changes.get(name)
        if value is not None:
            setattr(address, name, value)
    if make_default:
        await _make_default(uow, address)
    await uow.session.flush()
    return address


async def set_default_address(uow: UnitOfWork, actor: User | None, address_id: int) -> Address:
    user = await _lock_buyer(uow, actor)
    address = await address_of(uow.session, user, address_id)
    await _make_default(uow, address)
    await uow.session.flush()
    return address


async def delete_address(uow: UnitOfWork, actor: User | None, address_id: int) -> None:
    """Orders keep their own copy of the address, so deleting it changes none of them. When the
    default goes, the newest remaining address becomes the default."""
    user = await _lock_buyer(uow, actor)
    address = await address_of(uow.session, user, address_id)
    was_default = address.is_default
    await uow.session.delete(address)
    await uow.session.flush()
    if was_default:
        newest = await uow.session.scalar(
            sa.select(Address)
            .where(Address.user_id == user.id)
            .order_by(Address.created_at.desc(), Address.id.desc())
            .limit(1)
        )
        if newest is not None:
            newest.is_default = True
            await uow.session.flush()
