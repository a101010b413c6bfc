"""Resolving a credential reference into a boto3 session (the AWS counterpart of ``_google_auth``).

The kinds (:mod:`adapters._credentials`): the default chain, a named profile, assume-role (role ARN,
external ID, RoleSessionName, duration, from a source kind) and web identity (role ARN and a token
*file*). Assumed-role credentials refresh themselves through botocore's own fetchers, so a job watched for
days keeps working. ``anonymous`` means unsigned requests: the emulator only.
"""

from __future__ import annotations

import os
from typing import Any

from adapters._errors import CredentialError

from .._credentials import (
    AnonymousRef,
    AwsAssumeRoleRef,
    AwsDefaultRef,
    AwsProfileRef,
    AwsWebIdentityRef,
    CredentialRef,
)


def session_for(ref: CredentialRef, region: str) -> tuple[Any, bool]:
    """A ``boto3.Session`` for ``ref`` and whether requests go unsigned (anonymous)."""
    import boto3

    if isinstance(ref, AnonymousRef):
        return boto3.Session(region_name=region), True
    if isinstance(ref, AwsDefaultRef):
        return boto3.Session(region_name=region), False
    if isinstance(ref, AwsProfileRef):
        from botocore.exceptions import ProfileNotFound

        try:
            return boto3.Session(profile_name=ref.profile, region_name=region), False
        except ProfileNotFound:
            raise CredentialError(
                f"AWS profile {ref.profile!r} is not in the shared config files (~/.aws/config, "
                "~/.aws/credentials, or $AWS_CONFIG_FILE / $AWS_SHARED_CREDENTIALS_FILE)"
            ) from None
    if isinstance(ref, AwsAssumeRoleRef):
        return _assumed(ref, region), False
    if isinstance(ref, AwsWebIdentityRef):
        return _web_identity(ref, region), False
    raise CredentialError(
        f"{ref.describe()} is not an AWS credential reference; SageMaker takes 'aws', 'aws-profile:NAME', "
        "'aws-role:ROLE_ARN', 'aws-web-identity:ROLE_ARN' or 'anonymous' (the emulator)"
    )


def _with_credentials(credentials: Any, region: str) -> Any:
    import boto3
    from botocore.session import get_session

    core = get_session()
    # botocore has no public setter for a credentials object; this is how its own tools inject one.
    core._credentials = credentials
    return boto3.Session(botocore_session=core, region_name=region)


def _assumed(ref: AwsAssumeRoleRef, region: str) -> Any:
    from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

    source, _ = session_for(ref.source, region)
    source_credentials = source.get_credentials()
    if source_credentials is None:
        raise CredentialError(f"cannot assume {ref.role_arn}: {ref.source.describe()} found no credentials")
    extra: dict[str, Any] = {"RoleSessionName": ref.session_name}
    if ref.external_id is not None:
        extra["ExternalId"] = ref.external_id
    if ref.duration_seconds is not None:
        extra["DurationSeconds"] = ref.duration_seconds
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=source._session.create_client,
        source_credentials=source_credentials,
        role_arn=ref.role_arn,
        extra_args=extra,
    )
    credentials = DeferredRefreshableCredentials(
        method="assume-role", refresh_using=fetcher.fetch_credentials
    )
    return _with_credentials(credentials, region)


def _web_identity(ref: AwsWebIdentityRef, region: str) -> Any:
    import boto3
    from botocore.credentials import (
        AssumeRoleWithWebIdentityCredentialFetcher,
        DeferredRefreshableCredentials,
    )
    from botocore.utils import FileWebIdentityTokenLoader

    path = ref.token_file or os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE", "")
    if not path:
        raise CredentialError(
            f"{ref.describe()} names no token file and $AWS_WEB_IDENTITY_TOKEN_FILE is not set"
        )
    if not os.path.isfile(os.path.expanduser(path)):
        raise CredentialError(f"web identity token file {path} does not exist")
    fetcher = AssumeRoleWithWebIdentityCredentialFetcher(
        client_creator=boto3.Session(region_name=region)._session.create_client,
        web_identity_token_loader=FileWebIdentityTokenLoader(os.path.expanduser(path)),
        role_arn=ref.role_arn,
        extra_args={"RoleSessionName": ref.session_name},
    )
    credentials = DeferredRefreshableCredentials(
        method="assume-role-with-web-identity", refresh_using=fetcher.fetch_credentials
    )
    return _with_credentials(credentials, region)
