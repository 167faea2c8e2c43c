//! Put/Get/List/DeleteBucketInventoryConfiguration (issue #14). A configuration is validated
//! as AWS validates it and kept in the metadata store; the engine's inventory worker writes
//! the CSV and Parquet reports (docs/inventory.md), each object admitted by [`ServiceGate`].
//! The destination is a bucket of this server, named by its ARN.

use crate::Gateway;
use crate::error::{engine_error, invalid_argument, no_such_configuration, too_many_configurations, with_resource};
use holdfast_engine::inventory::InventoryChange;
use holdfast_engine::model::{
    InventoryConfig, InventoryFormat as Format, InventoryFrequency as Frequency, InventoryVersions as Versions,
    MAX_INVENTORY_CONFIGS,
};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

const MALFORMED: &str = "The XML you provided was not well-formed or did not validate against our published schema";
/// Configurations per page of ListBucketInventoryConfigurations (as on AWS).
const PAGE: usize = 100;
const MAX_ID: usize = 64;
const ARN_PREFIX: &str = "arn:aws:s3:::";

/// Every optional field AWS knows. The ones Holdfast has no state for (ACLs, encryption,
/// Intelligent-Tiering) are accepted and will be written with the value that state has here.
pub const OPTIONAL_FIELDS: [&str; 15] = [
    "Size",
    "LastModifiedDate",
    "StorageClass",
    "ETag",
    "IsMultipartUploaded",
    "ReplicationStatus",
    "EncryptionStatus",
    "ObjectLockRetainUntilDate",
    "ObjectLockMode",
    "ObjectLockLegalHoldStatus",
    "IntelligentTieringAccessTier",
    "BucketKeyStatus",
    "ChecksumAlgorithm",
    "ObjectAccessControlList",
    "ObjectOwner",
];

fn malformed() -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedXML, MALFORMED)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Gateway {
    fn inventory_from_dto(&self, query_id: &str, dto: InventoryConfiguration) -> S3Result<InventoryConfig> {
        if dto.id != query_id {
            return Err(invalid_argument(
                "Configuration ID in the request body does not match the ID in the query string",
                "id",
                Some(query_id),
            ));
        }
        if !valid_id(&dto.id) {
            return Err(invalid_argument(
                "The configuration ID must be 1 to 64 letters, digits, '-', '_' or '.'",
                "id",
                Some(&dto.id),
            ));
        }
        let versions = match dto.included_object_versions.as_str() {
            "All" => Versions::All,
            "Current" => Versions::Current,
            _ => return Err(malformed()),
        };
        let frequency = match dto.schedule.frequency.as_str() {
            "Daily" => Frequency::Daily,
            "Weekly" => Frequency::Weekly,
            _ => return Err(malformed()),
        };
        let mut optional_fields: Vec<String> = Vec::new();
        for f in dto.optional_fields.unwrap_or_default() {
            let name = f.as_str();
            if !OPTIONAL_FIELDS.contains(&name) {
                return Err(invalid_argument("Invalid optional field", "OptionalFields", Some(name)));
            }
            if optional_fields.iter().any(|o| o == name) {
                return Err(invalid_argument("Duplicate optional field", "OptionalFields", Some(name)));
            }
            optional_fields.push(name.to_owned());
        }
        let dest = dto.destination.s3_bucket_destination;
        let format = match dest.format.as_str() {
            "CSV" => Format::Csv,
            "Parquet" => Format::Parquet,
            "ORC" => {
                return Err(s3_error!(
                    NotImplemented,
                    "Inventory reports in ORC are not supported: use CSV or Parquet"
                ));
            }
            _ => return Err(malformed()),
        };
        if dest.encryption.is_some() {
            return Err(s3_error!(NotImplemented, "Encryption of inventory reports is not supported"));
        }
        if let Some(account) = &dest.account_id
            && account != self.dir.account_id()
        {
            return Err(invalid_argument(
                "The destination account must be this server's account",
                "AccountId",
                Some(account),
            ));
        }
        let bucket = dest
            .bucket
            .strip_prefix(ARN_PREFIX)
            .filter(|b| !b.is_empty() && !b.contains('/'))
            .ok_or_else(|| invalid_argument("Invalid bucket ARN", "Bucket", Some(&dest.bucket)))?
            .to_owned();
        Ok(InventoryConfig {
            id: dto.id,
            enabled: dto.is_enabled,
            prefix: dto.filter.map(|f| f.prefix),
            versions,
            frequency,
            optional_fields,
            destination_bucket: bucket,
            destination_account: dest.account_id,
            destination_prefix: dest.prefix,
            format,
        })
    }

    pub(crate) async fn put_bucket_inventory_configuration(
        &self,
        req: S3Request<PutBucketInventoryConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketInventoryConfigurationOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        let config = self.inventory_from_dto(&input.id, input.inventory_configuration)?;
        // The destination must exist on this server (AWS: InvalidArgument for a bucket it
        // cannot find).
        if self.engine.bucket(&config.destination_bucket).await.map_err(engine_error)?.is_none() {
            return Err(invalid_argument(
                "The destination bucket does not exist",
                "Bucket",
                Some(&format!("{ARN_PREFIX}{}", config.destination_bucket)),
            ));
        }
        match self
            .engine
            .put_inventory_config(&input.bucket, config)
            .await
            .map_err(|e| with_resource(engine_error(e), &input.bucket, None))?
        {
            InventoryChange::TooMany => Err(too_many_configurations(&format!(
                "A bucket may have at most {MAX_INVENTORY_CONFIGS} inventory configurations"
            ))),
            _ => Ok(S3Response::new(PutBucketInventoryConfigurationOutput::default())),
        }
    }

    pub(crate) async fn get_bucket_inventory_configuration(
        &self,
        req: S3Request<GetBucketInventoryConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketInventoryConfigurationOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        let all = self
            .engine
            .inventory_configs(&input.bucket)
            .await
            .map_err(|e| with_resource(engine_error(e), &input.bucket, None))?;
        let config = all.get(&input.id).cloned().ok_or_else(no_such_configuration)?;
        Ok(S3Response::new(GetBucketInventoryConfigurationOutput { inventory_configuration: Some(to_dto(config)) }))
    }

    pub(crate) async fn list_bucket_inventory_configurations(
        &self,
        req: S3Request<ListBucketInventoryConfigurationsInput>,
    ) -> S3Result<S3Response<ListBucketInventoryConfigurationsOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        let after = match &input.continuation_token {
            None => None,
            Some(token) => Some(
                hex::decode(token).ok().and_then(|b| String::from_utf8(b).ok()).filter(|id| valid_id(id)).ok_or_else(
                    || invalid_argument("The continuation token provided is incorrect", "continuation-token", None),
                )?,
            ),
        };
        let all = self
            .engine
            .inventory_configs(&input.bucket)
            .await
            .map_err(|e| with_resource(engine_error(e), &input.bucket, None))?;
        let rest: Vec<InventoryConfig> =
            all.configs.into_iter().filter(|c| after.as_ref().is_none_or(|a| c.id > *a)).collect();
        let truncated = rest.len() > PAGE;
        let page: Vec<InventoryConfig> = rest.into_iter().take(PAGE).collect();
        let next = truncated.then(|| page.last().map(|c| hex::encode(&c.id))).flatten();
        Ok(S3Response::new(ListBucketInventoryConfigurationsOutput {
            continuation_token: input.continuation_token,
            inventory_configuration_list: (!page.is_empty()).then(|| page.into_iter().map(to_dto).collect()),
            is_truncated: Some(truncated),
            next_continuation_token: next,
        }))
    }

    pub(crate) async fn delete_bucket_inventory_configuration(
        &self,
        req: S3Request<DeleteBucketInventoryConfigurationInput>,
    ) -> S3Result<S3Response<DeleteBucketInventoryConfigurationOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        match self
            .engine
            .delete_inventory_config(&input.bucket, &input.id)
            .await
            .map_err(|e| with_resource(engine_error(e), &input.bucket, None))?
        {
            InventoryChange::Missing => Err(no_such_configuration()),
            _ => Ok(S3Response::with_status(DeleteBucketInventoryConfigurationOutput {}, http::StatusCode::NO_CONTENT)),
        }
    }
}

fn to_dto(c: InventoryConfig) -> InventoryConfiguration {
    InventoryConfiguration {
        destination: InventoryDestination {
            s3_bucket_destination: InventoryS3BucketDestination {
                account_id: c.destination_account,
                bucket: format!("{ARN_PREFIX}{}", c.destination_bucket),
                encryption: None,
                format: InventoryFormat::from_static(match c.format {
                    Format::Csv => InventoryFormat::CSV,
                    Format::Parquet => InventoryFormat::PARQUET,
                }),
                prefix: c.destination_prefix,
            },
        },
        filter: c.prefix.map(|prefix| InventoryFilter { prefix }),
        id: c.id,
        included_object_versions: InventoryIncludedObjectVersions::from_static(match c.versions {
            Versions::All => InventoryIncludedObjectVersions::ALL,
            Versions::Current => InventoryIncludedObjectVersions::CURRENT,
        }),
        is_enabled: c.enabled,
        optional_fields: (!c.optional_fields.is_empty())
            .then(|| c.optional_fields.into_iter().map(InventoryOptionalField::from).collect()),
        schedule: InventorySchedule {
            frequency: InventoryFrequency::from_static(match c.frequency {
                Frequency::Daily => InventoryFrequency::DAILY,
                Frequency::Weekly => InventoryFrequency::WEEKLY,
            }),
        },
    }
}

/// The principal AWS writes inventory reports as.
pub const INVENTORY_WRITER: &str = "s3.amazonaws.com";

/// Each object of an inventory report is a PutObject by Amazon S3's service principal, judged
/// by the destination bucket's policy alone, with the condition keys AWS's documented
/// destination policy tests: `aws:SourceArn` (the source bucket), `aws:SourceAccount` (its
/// owner) and `s3:x-amz-acl` (`bucket-owner-full-control`, the ACL the writer sends).
pub struct ServiceGate(pub std::sync::Arc<crate::access::Authorizer>);

#[async_trait::async_trait]
impl holdfast_engine::inventory::ReportGate for ServiceGate {
    async fn admit(&self, source: &str, destination: &str, key: &str) -> bool {
        let source_arn = format!("{ARN_PREFIX}{source}");
        let account = self.0.bucket_account(source).await;
        let keys = [
            ("aws:SourceArn", source_arn.as_str()),
            ("aws:SourceAccount", account.as_str()),
            ("s3:x-amz-acl", "bucket-owner-full-control"),
        ];
        self.0.service_allowed(INVENTORY_WRITER, "s3:PutObject", destination, key, &keys).await
    }
}
