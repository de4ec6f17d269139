// OWASP API5 / PSD2 RTS Art. 34: RFC 7591 registration is bounded by the authorization_details
// types the operator allowed when minting the initial access token (src/oidc/registration-bound.ts,
// a registration policy on the token). Tokens stored before carry no policy, so nothing bounds them:
// - an initial access token without one is deleted: the operator mints a new one naming the types;
// - a registration access token without one gets the bound of what its client registered (all types
//   when it registered none, as oidc-provider's default gave it), so RFC 7592 updates never widen it.
// The policy name format is boundPolicy()'s: the types sorted and comma-separated.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`DELETE FROM oidc_payloads WHERE model = 'InitialAccessToken' AND payload -> 'policies' IS NULL`);
  await knex.raw(`
    UPDATE oidc_payloads AS token
    SET payload = jsonb_set(
      token.payload,
      '{policies}',
      jsonb_build_array('authorization_details_types:' || (
        SELECT coalesce(string_agg(DISTINCT type, ',' ORDER BY type), '')
        FROM jsonb_array_elements_text(
          CASE jsonb_typeof(client.metadata -> 'authorization_details_types')
            WHEN 'array' THEN client.metadata -> 'authorization_details_types'
            ELSE '["account_information", "payment_initiation"]'::jsonb
          END
        ) AS type
        WHERE type IN ('account_information', 'payment_initiation')
      ))
    )
    FROM clients AS client
    WHERE token.model = 'RegistrationAccessToken'
      AND token.payload -> 'policies' IS NULL
      AND client.client_id = token.payload ->> 'clientId'
  `);
}

export async function down(): Promise<void> {
  // The bounds stay: removing them would reopen registration to every type.
}
